// A backup cut short by closing the tab: the page warns first (beforeunload), and after reopening, the
// demo phone reconnects by itself and "Back up now" completes a backup that verifies, with the store's
// catalogue and the browser's storage estimate still telling the truth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';
import { packedListingScript } from './packed-listing.ts';

const UDID = '00008120-001A2B3C4D5E802E';
let server: AppServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];

before(async () => {
  server = await serveApp();
  browser = await launchChromium();
  context = await browser.newContext();
  // Headless Chromium has no screen to keep awake: a stand-in Wake Lock API records what the app asks for.
  // Source text, not a function: tsx would add helpers the page does not have.
  await context.addInitScript(`(() => {
    const sentinels = (window.wakeLocks = []);
    const request = async (type) => {
      if (type !== 'screen') throw new TypeError(type);
      const sentinel = { type, released: false, release: async () => { sentinel.released = true; } };
      sentinels.push(sentinel);
      return sentinel;
    };
    Object.defineProperty(navigator, 'wakeLock', { value: { request }, configurable: true });
  })()`);
  ({ page, errors } = await openApp(context, server.url));
});
after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
});

interface StoreFigures {
  names: string[];
  fileCount: number;
  fileBytes: number;
  diskBytes: number;
}
const storeFigures = async (): Promise<StoreFigures> => (await page.evaluate(packedListingScript('backups', UDID))) as StoreFigures;
const trusted = '[data-testid="trust-state"]:has-text("This computer is trusted")';
/** Screen wake locks the page asked for, and how many it still holds. */
const wakeLocks = (): Promise<{ taken: number; held: number }> =>
  page.evaluate(() => {
    const all = (window as unknown as { wakeLocks: { released: boolean }[] }).wakeLocks;
    return { taken: all.length, held: all.filter((l) => !l.released).length };
  });

/** Starts a backup, waits until at least `minFiles` have arrived, and closes the tab (accepting its warning). */
async function closeMidBackup(minFiles: number): Promise<string> {
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForFunction(
    (min) => Number(/(?:^|· )(\d+) files/.exec(document.querySelector('[data-testid="backup-progress"]')?.textContent?.trim() ?? '')?.[1] ?? 0) >= min,
    minFiles,
    { timeout: 60000, polling: 10 },
  );
  const atClose = ((await page.textContent('[data-testid="backup-progress"]')) ?? '').trim();
  assert.equal(await page.$('[data-testid="backup-done"]'), null, 'still running when the tab closes');
  assert.equal((await wakeLocks()).held, 1, 'the running backup keeps the screen awake');
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.type());
    void dialog.accept();
  });
  const closed = new Promise<void>((resolve) => page.once('close', () => resolve()));
  await page.close({ runBeforeUnload: true });
  await closed;
  assert.deepEqual(dialogs, ['beforeunload'], 'the running backup made the page ask before closing');
  assert.deepEqual(errors, []);
  // Reopen: the phone this browser was allowed to use reconnects without the chooser.
  ({ page, errors } = await openApp(context, server.url));
  await page.waitForSelector(trusted, { timeout: 30000 });
  return atClose;
}

async function backUpNow(): Promise<void> {
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-done"], [data-testid="backup-error"]', { timeout: 120000 });
  const backupError = await page.$('[data-testid="backup-error"]');
  assert.equal(backupError, null, `the backup failed: ${await backupError?.textContent()}`);
  const locks = await wakeLocks();
  assert.ok(locks.taken >= 1 && locks.held === 0, `the backup took a wake lock and let it go when it ended: ${JSON.stringify(locks)}`);
}

/** The store's own figures, estimate() beside them, and the Library's Verify of every Manifest.db entry. */
async function checkStoreAndVerify(label: string): Promise<StoreFigures> {
  const figures = await storeFigures();
  for (const name of ['Info.plist', 'Manifest.db', 'Manifest.plist', 'Status.plist']) assert.ok(figures.names.includes(name), `${name} in the backup`);
  assert.ok(figures.fileCount > 50, `${figures.fileCount} files in the backup`);
  assert.ok(figures.diskBytes >= figures.fileBytes, `store files ${figures.diskBytes} B hold the backup's ${figures.fileBytes} B`);
  // Earlier versions and an interrupted session's bytes may take room until compaction, but not without bound.
  assert.ok(figures.diskBytes <= 3 * figures.fileBytes + 64 * 2 ** 20, `store files ${figures.diskBytes} B for a ${figures.fileBytes} B backup`);
  const { usage = 0 } = await page.evaluate(() => navigator.storage.estimate());
  assert.ok(usage >= figures.fileBytes, `estimate() usage ${usage} B ≥ backup ${figures.fileBytes} B`);
  assert.ok(usage <= 4 * figures.diskBytes + 256 * 2 ** 20, `estimate() usage ${usage} B is plausible beside the store's ${figures.diskBytes} B`);

  await page.click('nav button:has-text("Library")');
  const card = page.locator('[data-testid="backup-card"][data-kind="lifeboat"]');
  await card.waitFor({ timeout: 30000 });
  await card.locator('[data-testid="verify-backup"]').click();
  await page.waitForSelector('[data-testid="verify-ok"], [data-testid="verify-problems"]', { timeout: 60000 });
  const problems = await page.$('[data-testid="verify-problems"]');
  assert.equal(problems, null, `verify found problems: ${await problems?.textContent()}`);
  assert.match((await page.textContent('[data-testid="verify-ok"]')) ?? '', /Verified: all [\d,]+ files/);
  await page.click('nav button:has-text("Device")');
  console.log(`${label}: ${figures.fileCount} files, ${figures.fileBytes} B in the catalogue; store files ${figures.diskBytes} B; estimate() usage ${usage} B`);
  return figures;
}

let firstBackup: StoreFigures | undefined;

const lastBackup = async (): Promise<string> => (await page.getAttribute('[data-testid="last-backup"]', 'data-date')) ?? '';

test('a first backup cut short by closing the tab: the page asks first; the next "Back up now" completes one that verifies', async () => {
  await page.click('[data-testid="try-virtual"]');
  await page.click('[data-testid="trust"]');
  await page.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 30000 });
  await page.click('[data-testid="phone-trust"]');
  await page.waitForSelector(trusted, { timeout: 30000 });
  // The demo phone writes what it remembers (trusted hosts) every 500 ms.
  await page.waitForTimeout(1000);

  const atClose = await closeMidBackup(40);
  console.log(`first backup closed at "${atClose}"`);
  await page.waitForSelector('[data-testid="last-backup"]', { timeout: 10000 });
  assert.equal(await lastBackup(), '', 'the cut-short backup never became a backup');
  await backUpNow();
  await page.waitForSelector('[data-testid="last-backup"]:has-text("Today at")', { timeout: 10000 });
  firstBackup = await checkStoreAndVerify('after the first backup');
  assert.deepEqual(errors, []);
});

test('an incremental backup cut short: the last complete backup stays the latest; the next completes and verifies', async () => {
  await page.waitForSelector('[data-testid="last-backup"]:has-text("Today at")', { timeout: 10000 });
  const before = await lastBackup();
  // Enough changes that the incremental backup lasts long enough to be cut short.
  for (let i = 0; i < 30; i++) await page.click('button:has-text("Change some data")');
  await page.waitForTimeout(500);
  const atClose = await closeMidBackup(1);
  console.log(`incremental backup closed at "${atClose}"`);
  await page.waitForSelector('[data-testid="last-backup"]:has-text("Today at")', { timeout: 10000 });
  assert.equal(await lastBackup(), before, 'the last complete backup is still the latest');
  await backUpNow();
  await page.waitForFunction((date) => document.querySelector('[data-testid="last-backup"]')?.getAttribute('data-date') !== date, before, { timeout: 10000 });
  const latest = await checkStoreAndVerify('after the incremental backup');
  // The demo phone rebuilds its data from its seed when the page opens again (only its keys, trusted hosts and
  // keybag persist), so the completed backup holds exactly what the first one did: the same catalogue figures.
  assert.deepEqual({ files: latest.fileCount, bytes: latest.fileBytes }, { files: firstBackup?.fileCount, bytes: firstBackup?.fileBytes });
  assert.deepEqual(errors, []);
});
