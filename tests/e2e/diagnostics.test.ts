import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { parseTrace } from '../../src/diagnostics/trace-format.ts';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';

let server: AppServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];

before(async () => {
  server = await serveApp();
  browser = await launchChromium();
  context = await browser.newContext({ acceptDownloads: true });
  ({ page, errors } = await openApp(context, server.url));
});
after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
});

test('diagnostics: the Diagnostics view shows the demo session’s trace, reached from an error, and exports it as one file', async () => {
  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector('[data-testid="device-card"]', { timeout: 30000 });
  // An error (Don't Trust) offers Diagnostics.
  await page.click('[data-testid="trust"]');
  await page.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 30000 });
  await page.click('[data-testid="phone-dont-trust"]');
  await page.waitForSelector('[data-testid="error"][data-code="pairing-denied"]', { timeout: 10000 });
  await page.click('[data-testid="error"] [data-testid="open-diagnostics"]');
  await page.waitForSelector('[data-testid="diagnostics"] [data-testid="trace-text"]:has-text("lifeboat-trace")', { timeout: 10000 });
  const shown = (await page.textContent('[data-testid="trace-text"]')) ?? '';
  const [session] = parseTrace(shown);
  const kinds = new Set(session!.events.map((e) => e.kind));
  for (const kind of ['usb', 'mux', 'device', 'open', 'plist', 'error']) assert.ok(kinds.has(kind as never), `the trace has ${kind} events`);
  assert.ok(session!.events.some((e) => e.kind === 'plist' && e.name === 'Request Pair'));
  assert.ok(session!.events.some((e) => e.kind === 'error' && e.code === 'pairing-denied'));
  assert.ok(!shown.includes('00008030-001A2B3C4D5E802E'), 'the demo UDID is hashed');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-trace"]')]);
  assert.match(download.suggestedFilename(), /^lifeboat-trace-.*\.jsonl$/);
  const exported = await readFile((await download.path())!, 'utf8');
  assert.equal(parseTrace(exported)[0]!.header.format, 'lifeboat-trace');
  assert.ok(exported.length >= shown.length, 'the export holds at least what was shown');
  assert.deepEqual(errors, []);
});
