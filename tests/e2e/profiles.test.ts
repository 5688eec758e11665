import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';
import { namedProfile } from '../../src/virtual-iphone/profiles.ts';
import { findDeviceModel } from '../../src/virtual-iphone/profile.ts';

/**
 * A few device profiles in the browser (`?profile=NAME` in demo mode): the page's own WebUSB/mux/lockdown/
 * TLS stack pairs, backs up into OPFS and opens the backup in the library. The whole cycle of every
 * profile runs in Node (tests/virtual-iphone/profiles.test.ts).
 */
let server: AppServer;
let browser: Browser;

before(async () => {
  server = await serveApp();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

for (const name of ['ios10.1-iphone7', 'ipados17-ipad']) {
  test(`profile ${name} in Chromium: pair, back up into OPFS, open in the library`, async () => {
    const settings = namedProfile(name).settings;
    const context = await browser.newContext();
    try {
      const { page, errors } = await openApp(context, `${server.url}?profile=${name}`);
      const text = async (testId: string): Promise<string> => ((await page.textContent(`[data-testid="${testId}"]`)) ?? '').trim();
      await page.click('[data-testid="try-virtual"]');
      await page.waitForSelector('[data-testid="device-card"]', { timeout: 30000 });
      assert.equal(await text('marketing-name'), findDeviceModel(settings.productType)!.marketingName);
      assert.match(await text('ios-version'), new RegExp(settings.productVersion.replace(/\./g, '\\.')));
      await page.click('[data-testid="trust"]');
      await page.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 30000 });
      await page.click('[data-testid="phone-trust"]');
      await page.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 30000 });
      await page.click('[data-testid="backup-now"]');
      await page.waitForSelector('[data-testid="backup-done"]', { timeout: 180000 });
      assert.match(await text('backup-done'), /Backup complete: \d+ files/);
      await page.click('nav button:has-text("Library")');
      const card = page.locator('[data-testid="backup-card"][data-kind="lifeboat"]');
      await card.waitFor({ timeout: 30000 });
      await card.locator('[data-testid="open-backup"]').click();
      await page.waitForSelector('[data-testid="overview-categories"]', { timeout: 60000 });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
}
