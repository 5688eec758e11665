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

test('replay in the browser: a trace recorded by the app (trust, backup) served as the demo device; the app pairs and backs up against it', async () => {
  // Record: a fresh browser profile trusts the demo iPhone and backs it up.
  const recording = await browser.newContext({ acceptDownloads: true });
  let trace: string;
  try {
    const { page: p, errors: e } = await openApp(recording, server.url);
    await p.click('[data-testid="try-virtual"]');
    await p.waitForSelector('[data-testid="device-card"]', { timeout: 30000 });
    await p.click('[data-testid="trust"]');
    await p.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 30000 });
    await p.click('[data-testid="phone-trust"]');
    await p.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 30000 });
    await p.click('[data-testid="backup-now"]');
    await p.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
    await p.click('[data-testid="phone-enter-passcode"]');
    await p.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
    await p.click('[data-testid="open-diagnostics"]');
    await p.waitForSelector('[data-testid="trace-text"]:has-text("DLMessageProcessMessage")', { timeout: 10000 });
    const [download] = await Promise.all([p.waitForEvent('download'), p.click('[data-testid="export-trace"]')]);
    trace = await readFile((await download.path())!, 'utf8');
    assert.deepEqual(e, []);
  } finally {
    await recording.close();
  }

  // Replay: another fresh profile connects to the trace instead of the simulation.
  const replaying = await browser.newContext();
  try {
    const { page: p } = await openApp(replaying, server.url);
    await p.click('[data-testid="connect-panel"] [data-testid="open-diagnostics"]');
    await p.setInputFiles('[data-testid="replay-trace"]', { name: 'session.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(trace) });
    await p.waitForSelector('[data-testid="device-card"]', { timeout: 30000 });
    assert.equal(await p.textContent('[data-testid="trust-state"]'), 'Not trusted yet');
    await p.click('[data-testid="trust"]');
    // The recorded phone answered "pending" until Trust was tapped; the replay gives the same answers.
    await p.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 60000 });
    await p.click('[data-testid="backup-now"]');
    await p.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
    assert.match((await p.textContent('[data-testid="backup-done"]')) ?? '', /Backup complete: \d+ files/);
  } finally {
    await replaying.close();
  }
});
