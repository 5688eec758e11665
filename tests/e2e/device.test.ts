import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';
import { packedListingScript } from './packed-listing.ts';

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
  // The demo phone writes what it remembers (trusted hosts) every 500 ms; a reload right after Trust could beat it.
  await page.waitForTimeout(1000);
  // The demo phone was allowed before: it reconnects without the chooser (tests/e2e/reconnect.test.ts).
  await page.reload();
  await page.waitForSelector('[data-testid="device-card"]', { timeout: 30000 });
  assert.equal(await text('trust-state'), 'This computer is trusted');
  assert.deepEqual(errors, []);
});

test('back up the demo device into OPFS, with the passcode step and progress visible', async () => {
  // The person's choice of earlier backups to keep survives a reload (the default is 3).
  assert.equal(await page.inputValue('[data-testid="keep-versions"]'), '3');
  await page.selectOption('[data-testid="keep-versions"]', '5');
  // The demo phone was allowed before: it reconnects without the chooser (tests/e2e/reconnect.test.ts).
  await page.reload();
  await page.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 30000 });
  assert.equal(await page.inputValue('[data-testid="keep-versions"]'), '5');
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"]', { timeout: 20000 });
  // iOS ≥ 16.1 with a passcode asks on the phone before it sends anything.
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="receiving"], [data-testid="backup-done"]', { timeout: 60000 });
  await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
  assert.match(await text('backup-done'), /Backup complete: \d+ files/);
  // OPFS holds a packed store (src/stores/packed): its catalogue says what the device folder holds.
  const layout = (await page.evaluate(packedListingScript('backups', '00008120-001A2B3C4D5E802E'))) as { devices: string[]; names: string[] };
  assert.deepEqual(layout.devices, ['00008120-001A2B3C4D5E802E']);
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

test('the library lists the Lifeboat backup with its earlier version, and opens that version', async () => {
  await page.click('nav button:has-text("Library")');
  const card = page.locator('[data-testid="backup-card"][data-kind="lifeboat"]');
  await card.waitFor({ timeout: 30000 });
  assert.match((await card.textContent()) ?? '', /Encrypted/);
  const options = await card.locator('[data-testid="backup-version"] option').allTextContents();
  assert.equal(options.length, 2, 'latest + the plain backup made before encryption was turned on');
  await card.locator('[data-testid="backup-version"]').selectOption({ index: 1 });
  await card.locator('[data-testid="open-backup"]').click();
  // The earlier backup is not encrypted: it opens straight to its contents.
  await page.waitForSelector('[data-testid="earlier-backup"]', { timeout: 30000 });
  await page.waitForSelector('[data-testid="overview-categories"]', { timeout: 30000 });
  assert.match((await page.textContent('[data-testid="backup-view"]')) ?? '', /Not encrypted/);
  await page.click('[data-testid="back-to-library"]');
  await page.click('nav button:has-text("Device")');
  await page.waitForSelector('[data-testid="restore-source"]', { timeout: 30000 });
  assert.deepEqual(errors, []);
});

test('restore: Find My on is blocked with an explanation; off, the pre-checks pass and the restore completes', async () => {
  await page.waitForSelector('[data-testid="restore-source"]', { timeout: 10000 });
  // Two backups so far: the encrypted latest and the plain one before it, kept as an earlier version.
  const versions = await page.$$eval('[data-testid="restore-version"] option', (options) => options.map((o) => o.textContent ?? ''));
  assert.equal(versions.length, 2);
  assert.match(versions[0]!, /^Latest/);
  assert.match(versions[1]!, /^Earlier — /);
  assert.doesNotMatch(versions[1]!, /encrypted/);
  await page.selectOption('[data-testid="restore-version"]', { index: 1 });
  assert.equal(await page.$('[data-testid="restore-password"]'), null, 'the earlier backup is not encrypted: no password asked');
  await page.selectOption('[data-testid="restore-version"]', { index: 0 });
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
  const backupFolder = async () => {
    const { names, statusBytes } = (await page.evaluate(packedListingScript('backups', '00008120-001A2B3C4D5E802E'))) as { names: string[]; statusBytes: number };
    return { names, statusBytes };
  };
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

test('back up into a folder the person picks: ordinary files in Finder’s layout, listed in the Library', async () => {
  // Headless Chromium shows no picker: the "picked" folder is an OPFS folder, the same FileSystemDirectoryHandle type.
  await page.evaluate(() => {
    (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
      (await navigator.storage.getDirectory()).getDirectoryHandle('My iPhone Backups', { create: true });
  });
  await page.check('[data-testid="destination-folder"]');
  await page.waitForSelector('[data-testid="destination-folder-name"]:has-text("My iPhone Backups")');
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
  assert.match(await text('backup-done'), /in the folder “My iPhone Backups”/);
  const names = await page.evaluate(async () => {
    const picked = await (await navigator.storage.getDirectory()).getDirectoryHandle('My iPhone Backups');
    const device = await picked.getDirectoryHandle('00008120-001A2B3C4D5E802E');
    const out: string[] = [];
    for await (const [name] of (device as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) out.push(name);
    return out.sort();
  });
  for (const name of ['Info.plist', 'Manifest.db', 'Manifest.plist', 'Status.plist', '3d']) assert.ok(names.includes(name), `${name} as a real file in the folder`);
  assert.ok(names.filter((n) => /^[0-9a-f]{2}$/.test(n)).length > 10, 'the two-hex-digit folders');

  // The Restore panel offers the folder's backup beside the browser's, and its pre-checks read it there.
  const folderOption = page.locator('[data-testid="restore-source"] option', { hasText: '“My iPhone Backups”' });
  await folderOption.waitFor({ state: 'attached', timeout: 30000 });
  await page.selectOption('[data-testid="restore-source"]', (await folderOption.getAttribute('value'))!);
  await page.fill('[data-testid="restore-password"]', 'correct horse');
  await page.click('[data-testid="restore-check"]');
  await page.waitForSelector('[data-testid="restore-plan"]', { timeout: 60000 });
  assert.match(await text('restore-plan'), /Ready to restore \d+ files/);

  // The choice is remembered; the Library lists the folder's backup (read in place) beside Lifeboat's own.
  // The demo phone was allowed before: it reconnects without the chooser (tests/e2e/reconnect.test.ts).
  await page.reload();
  await page.waitForSelector('[data-testid="destination-folder-name"]:has-text("My iPhone Backups")', { timeout: 30000 });
  await page.check('[data-testid="destination-browser"]');
  await page.click('nav button:has-text("Library")');
  await page.locator('[data-testid="backup-card"][data-kind="folder"]').waitFor({ timeout: 30000 });
  assert.match((await page.locator('[data-testid="backup-card"][data-kind="folder"]').textContent()) ?? '', /My iPhone Backups/);
  await page.click('nav button:has-text("Device")');
  assert.deepEqual(errors, []);
});
