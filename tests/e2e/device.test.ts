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

test('back up the demo device into OPFS, with the passcode step and progress visible', async () => {
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"]', { timeout: 20000 });
  // iOS ≥ 16.1 with a passcode asks on the phone before it sends anything.
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="receiving"], [data-testid="backup-done"]', { timeout: 60000 });
  await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
  assert.match(await text('backup-done'), /Backup complete: \d+ files/);
  const layout = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const backups = await root.getDirectoryHandle('backups');
    const udid = (await (async () => {
      for await (const [name, handle] of (backups as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries())
        if (handle.kind === 'directory' && !name.startsWith('.')) return name;
      return '';
    })());
    const folder = await backups.getDirectoryHandle(udid);
    const names: string[] = [];
    for await (const [name] of (folder as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) names.push(name);
    return { udid, names: names.sort() };
  });
  assert.equal(layout.udid, '00008120-001A2B3C4D5E802E');
  for (const name of ['Info.plist', 'Manifest.db', 'Manifest.plist', 'Status.plist', '3d']) assert.ok(layout.names.includes(name), `${name} in the backup folder`);
  assert.deepEqual(errors, []);
});

test('turn on encryption (the phone asks for its passcode), then an encrypted backup', async () => {
  await page.click('[data-testid="encryption-on"]');
  await page.fill('[data-testid="encryption-password"]', 'correct horse');
  await page.fill('[data-testid="encryption-confirm"]', 'correct horse');
  await page.click('[data-testid="encryption-submit"]');
  await page.waitForSelector('[data-testid="phone-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="encryption-done"]', { timeout: 60000 });
  await page.waitForSelector('[data-testid="encryption-state"]:has-text("On")', { timeout: 10000 });

  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
  assert.match(await text('backup-done'), /full, encrypted/);
  assert.deepEqual(errors, []);
});

test('restore: Find My on is blocked with an explanation; off, the pre-checks pass and the restore completes', async () => {
  await page.waitForSelector('[data-testid="restore-source"]', { timeout: 10000 });
  await page.check('[data-testid="phone-find-my"]');
  await page.fill('[data-testid="restore-password"]', 'correct horse');
  await page.click('[data-testid="restore-check"]');
  await page.waitForSelector('[data-testid="restore-error"][data-code="find-my-enabled"]', { timeout: 30000 });
  assert.match(await text('restore-error'), /Find My/);
  assert.match(await text('restore-error'), /Settings/);

  await page.uncheck('[data-testid="phone-find-my"]');
  await page.fill('[data-testid="restore-password"]', 'wrong');
  await page.click('[data-testid="restore-check"]');
  await page.waitForSelector('[data-testid="restore-error"][data-code="wrong-password"]', { timeout: 60000 });

  await page.fill('[data-testid="restore-password"]', 'correct horse');
  await page.click('[data-testid="restore-check"]');
  await page.waitForSelector('[data-testid="restore-plan"]', { timeout: 60000 });
  assert.match(await text('restore-plan'), /Ready to restore \d+ files/);
  await page.click('[data-testid="restore-now"]');
  await page.waitForSelector('[data-testid="restore-stage"]', { timeout: 30000 });
  const passcode = await page.waitForSelector('[data-testid="phone-passcode"], [data-testid="restore-done"]', { timeout: 60000 });
  if ((await passcode.getAttribute('data-testid')) === 'phone-passcode') await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="restore-done"]', { timeout: 180000 });
  assert.match(await text('restore-done'), /Restore complete: \d+ files/);
  // The phone restarted; connecting again finds the same phone, still trusting us.
  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 30000 });
  assert.deepEqual(errors, []);
});

test('pull the cable mid-backup: the last backup stays whole and the next backup completes', async () => {
  const backupFolder = () =>
    page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const folder = await (await root.getDirectoryHandle('backups')).getDirectoryHandle('00008120-001A2B3C4D5E802E');
      const names: string[] = [];
      for await (const [name] of (folder as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) names.push(name);
      const status = await (await (await folder.getFileHandle('Status.plist')).getFile()).arrayBuffer();
      return { names: names.sort(), statusBytes: status.byteLength };
    });
  const before = await backupFolder();
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="receiving"], [data-testid="backup-stage"][data-stage="device-preparing"]', { timeout: 60000 });
  await page.click('[data-testid="phone-unplug"]');
  await page.waitForSelector('[data-testid="disconnected"]', { timeout: 30000 });
  assert.deepEqual(await backupFolder(), before, 'the last complete backup is untouched');

  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 30000 });
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
  assert.match(await text('backup-done'), /Backup complete: \d+ files/);
  assert.deepEqual(errors, []);
});
