import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';

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

test('the app is an installable PWA: manifest with icons, service worker precaching the shell', async () => {
  const context = await browser.newContext();
  const { page, errors } = await openApp(context, server.url);
  const manifestHref = await page.getAttribute('link[rel="manifest"]', 'href');
  assert.ok(manifestHref, 'a web app manifest is linked');
  const manifest = await (await page.request.get(new URL(manifestHref!, server.url).href)).json();
  assert.equal(manifest.short_name, 'Lifeboat');
  assert.equal(manifest.display, 'standalone');
  assert.ok(manifest.icons.some((i: { sizes: string }) => i.sizes === '512x512'));
  assert.ok(manifest.icons.some((i: { sizes: string }) => i.sizes === '192x192'));
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null || navigator.serviceWorker.ready.then(() => true), null, { timeout: 15000 });
  const cached = await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    const keys = await caches.keys();
    let count = 0;
    for (const k of keys) count += (await (await caches.open(k)).keys()).length;
    return count;
  });
  assert.ok(cached >= 5, `the shell is precached (${cached} entries)`);
  assert.deepEqual(errors, []);
  await context.close();
});

test('offline: load, go offline, reload — the app still works', async () => {
  const context = await browser.newContext();
  const { page, errors } = await openApp(context, server.url);
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForSelector('[data-testid="app-status"]:has-text("Ready to work offline")', { timeout: 15000 });
  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector('[data-testid="connect-panel"]', { timeout: 10000 });
  assert.equal(await page.textContent('[data-testid="app-status"]').then((t) => t?.trim()), 'Offline');
  assert.ok(await page.isVisible('[data-testid="try-virtual"]'));
  assert.deepEqual(errors, []);
  await context.close();
});
