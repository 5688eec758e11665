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
  // One context for the whole file: IndexedDB (our pairing, the virtual phone's memory) and OPFS persist across tests.
  context = await browser.newContext();
  ({ page, errors } = await openApp(context, server.url));
});
after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
});

const text = async (testId: string): Promise<string> => ((await page.textContent(`[data-testid="${testId}"]`)) ?? '').trim();

test('demo mode: connect the virtual iPhone and see its card', async () => {
  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector('[data-testid="device-card"]', { timeout: 30000 });
  assert.equal(await text('device-name'), 'Ada’s iPhone');
  assert.equal(await text('marketing-name'), 'iPhone 14 Pro');
  assert.match(await text('ios-version'), /^iOS 18\.6/);
  assert.equal(await text('trust-state'), 'Not trusted yet');
  assert.deepEqual(errors, []);
});

test('trust: a denial is explained, a retry with Trust after a delay succeeds', async () => {
  await page.click('[data-testid="trust"]');
  await page.waitForSelector('[data-testid="pairing-step"][data-step="waiting-for-trust"]', { timeout: 30000 });
  await page.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 10000 });
  await page.click('[data-testid="phone-dont-trust"]');
  await page.waitForSelector('[data-testid="error"][data-code="pairing-denied"]', { timeout: 10000 });

  await page.click('[data-testid="trust"]');
  await page.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 10000 });
  // The person takes a moment: the host keeps polling while the dialog is up.
  await page.waitForTimeout(1500);
  assert.equal(await page.getAttribute('[data-testid="pairing-step"]', 'data-step'), 'waiting-for-trust');
  await page.click('[data-testid="phone-trust"]');
  await page.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 30000 });
  assert.match(await text('storage'), /used of .* free/);
  assert.match(await text('battery'), /^\d+%/);
  assert.deepEqual(errors, []);
});

test('reloading the page keeps the pairing', async () => {
  await page.reload();
  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector('[data-testid="device-card"]', { timeout: 30000 });
  assert.equal(await text('trust-state'), 'This computer is trusted');
  assert.deepEqual(errors, []);
});
