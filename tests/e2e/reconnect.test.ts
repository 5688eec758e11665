// Plug in and go: a demo phone this browser was allowed to use reconnects without the chooser ("Try the
// virtual iPhone" is demo mode's chooser) when the app opens and when its cable goes back in; the
// opt-in automatic backup runs on connect, and the device card says when the device was last backed up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';

let server: AppServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];

before(async () => {
  server = await serveApp();
  browser = await launchChromium();
  context = await browser.newContext();
  ({ page, errors } = await openApp(context, server.url));
});
after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
});

const text = async (testId: string): Promise<string> => ((await page.textContent(`[data-testid="${testId}"]`)) ?? '').trim();
const trusted = '[data-testid="trust-state"]:has-text("This computer is trusted")';

test('a device never allowed does not connect by itself', async () => {
  await page.waitForSelector('[data-testid="connect-panel"]');
  await page.waitForTimeout(1000);
  assert.equal(await page.$('[data-testid="device-card"]'), null);
  assert.ok(await page.isVisible('[data-testid="try-virtual"]'));
});

test('once picked, the demo phone reconnects on reload without the chooser', async () => {
  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector('[data-testid="phone-trust-dialog"], [data-testid="trust"]', { timeout: 30000 });
  await page.click('[data-testid="trust"]');
  await page.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 30000 });
  await page.click('[data-testid="phone-trust"]');
  await page.waitForSelector(trusted, { timeout: 30000 });
  assert.equal(await text('last-backup'), 'Never backed up with Lifeboat');
  // The demo phone writes what it remembers (trusted hosts) every 500 ms; a reload right after Trust could beat it.
  await page.waitForTimeout(1000);

  await page.reload();
  // No click: the app found the allowed device on open (getDevices) and connected, trusted as before.
  await page.waitForSelector(trusted, { timeout: 30000 });
  assert.equal(await text('device-name'), 'Ada’s iPhone');
  assert.deepEqual(errors, []);
});

test('pulling the cable disconnects; plugging it back reconnects without the chooser', async () => {
  await page.click('[data-testid="phone-unplug"]');
  await page.waitForSelector('[data-testid="disconnected"]', { timeout: 30000 });
  await page.click('[data-testid="phone-plug"]');
  // The connect event brings the device back; nothing on the connect panel was clicked.
  await page.waitForSelector(trusted, { timeout: 30000 });
  assert.deepEqual(errors, []);
});

test('opt-in: back up automatically when connected; the card then says when', async () => {
  await page.check('[data-testid="auto-backup"]');
  await page.click('[data-testid="phone-unplug"]');
  await page.waitForSelector('[data-testid="disconnected"]', { timeout: 30000 });
  await page.click('[data-testid="phone-plug"]');
  await page.waitForSelector('[data-testid="backup-automatic"]', { timeout: 30000 });
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
  await page.waitForSelector('[data-testid="last-backup"]:has-text("Today at")', { timeout: 10000 });
  assert.match(await text('last-backup'), /^Today at \d\d:\d\d( [AP]M)? · in this browser$/);
  const date = new Date((await page.getAttribute('[data-testid="last-backup"]', 'data-date')) ?? '');
  assert.ok(Math.abs(Date.now() - date.getTime()) < 5 * 60_000, `last backup ${date.toISOString()} is the one just made`);

  // The setting is per device and survives a reload, which (being a connect) backs up again.
  await page.reload();
  await page.waitForSelector('[data-testid="backup-automatic"]', { timeout: 30000 });
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="cancel-backup"]');
  await page.waitForSelector('[data-testid="backup-error"], [data-testid="backup-now"]', { timeout: 30000 });
  await page.uncheck('[data-testid="auto-backup"]');
  assert.deepEqual(errors, []);
});

test('after Disconnect the demo phone is put away: a reload leaves the chooser to the person', async () => {
  await page.click('button:has-text("Disconnect")');
  await page.waitForSelector('[data-testid="connect-panel"]');
  await page.reload();
  await page.waitForSelector('[data-testid="connect-panel"]');
  await page.waitForTimeout(1000);
  assert.equal(await page.$('[data-testid="device-card"]'), null);
  // Picking it again needs no new Trust: the pairing is kept.
  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector(trusted, { timeout: 30000 });
  assert.deepEqual(errors, []);
});
