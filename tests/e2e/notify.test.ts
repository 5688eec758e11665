import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { serveApp, launchChromium, openApp, connectAndTrustDemo, type AppServer } from './harness.ts';

// Headless Chromium has no notification centre and never hides a tab, so the page's own objects are
// replaced before the app loads: Notification (and the service worker's showNotification) record what
// the app shows, document.visibilityState reports what the test says, and Date.now can jump ahead so a
// run of a few seconds counts as a long one. Everything between — the button, the permission asked on
// the person's click, the run's end while hidden — is the app's own code.
const FAKES = `(() => {
  const shown = [];
  window.__notifications = shown;
  window.__hidden = false;
  window.__skewMs = 0;
  let permission = 'default';
  class RecordingNotification {
    static get permission() { return permission; }
    static async requestPermission() { permission = 'granted'; return permission; }
    constructor(title, options) { shown.push({ title, body: (options && options.body) || '', via: 'page' }); }
    close() {}
  }
  window.Notification = RecordingNotification;
  if (typeof ServiceWorkerRegistration !== 'undefined') {
    ServiceWorkerRegistration.prototype.showNotification = async function (title, options) {
      shown.push({ title, body: (options && options.body) || '', via: 'service worker' });
    };
  }
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => (window.__hidden ? 'hidden' : 'visible') });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__hidden });
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + window.__skewMs;
})();`;

type PageFakes = { __notifications: { title: string; body: string; via: string }[]; __hidden: boolean; __skewMs: number };

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

test('a long backup that ends while the tab is hidden shows a system notification, once the person allowed them', async () => {
  const context = await browser.newContext();
  try {
    await context.addInitScript(FAKES);
    const { page, errors } = await openApp(context, server.url);
    await connectAndTrustDemo(page);

    // A first backup, watched: it ends with the tab visible, so no notification even though allowed.
    await page.click('[data-testid="backup-now"]');
    await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
    await page.click('[data-testid="notify-when-done"]');
    await page.waitForSelector('[data-testid="notify-when-done"]', { state: 'detached' });
    assert.equal(await page.evaluate(() => Notification.permission), 'granted');
    await page.evaluate(() => ((window as unknown as PageFakes).__skewMs = 60_000));
    await page.click('[data-testid="phone-enter-passcode"]');
    await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
    assert.deepEqual(await page.evaluate(() => (window as unknown as PageFakes).__notifications), [], 'visible: the person saw it end');

    // The next one ends while the person is in another tab, a minute after it started.
    await page.evaluate(() => ((window as unknown as PageFakes).__skewMs = 0));
    await page.click('[data-testid="backup-now"]');
    await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
    assert.equal(await page.$('[data-testid="notify-when-done"]'), null, 'already allowed: not offered again');
    await page.evaluate(() => {
      const w = window as unknown as PageFakes;
      w.__hidden = true;
      w.__skewMs = 60_000;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await page.click('[data-testid="phone-enter-passcode"]');
    await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
    await page.waitForFunction(() => (window as unknown as PageFakes).__notifications.length > 0, undefined, { timeout: 10000 });
    const shown = await page.evaluate(() => (window as unknown as PageFakes).__notifications);
    assert.equal(shown.length, 1, JSON.stringify(shown));
    assert.equal(shown[0]!.title, 'Backup complete');
    assert.match(shown[0]!.body, /^\d[\d,]* files, [\d.]+ [KMG]?B\.$/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
