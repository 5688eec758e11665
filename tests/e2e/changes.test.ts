// "What changed" in headless Chromium: two demo backups with the demo phone's "Change some data"
// between them, the earlier version's "What changed since" view (photos, messages, contacts, files
// by category), and the deleted photo exported from the earlier version it still lives in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';

const SHOTS = process.env.LIFEBOAT_SCREENSHOTS; // a folder: write screenshots there for a person to look at

let server: AppServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];

before(async () => {
  server = await serveApp();
  browser = await launchChromium();
  context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  // No save picker in headless Chromium: exports become downloads Playwright catches.
  await context.addInitScript(() => void ((window as unknown as Record<string, unknown>)['showSaveFilePicker'] = undefined));
  ({ page, errors } = await openApp(context, server.url));
});
after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
});

async function backUp(): Promise<void> {
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 60000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-done"]', { timeout: 180000 });
}

test('what changed between two demo backups, and a deleted photo exported from the earlier one', async () => {
  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector('[data-testid="device-card"]', { timeout: 60000 });
  await page.click('[data-testid="trust"]');
  await page.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 30000 });
  await page.click('[data-testid="phone-trust"]');
  await page.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 60000 });
  await backUp();
  await page.click('[data-testid="virtual-phone"] button:has-text("Change some data")');
  await page.waitForTimeout(500);
  await backUp();

  await page.click('nav button:has-text("Library")');
  const card = page.locator('[data-testid="backup-card"][data-kind="lifeboat"]');
  await card.waitFor({ timeout: 30000 });
  await card.locator('[data-testid="backup-version"]').selectOption({ index: 1 });
  await card.locator('[data-testid="what-changed"]').click();
  await page.waitForSelector('[data-testid="earlier-backup"]', { timeout: 30000 });
  await page.waitForSelector('[data-testid="changes-summary"]', { timeout: 60000 });
  assert.equal(await page.getAttribute('[data-testid="tab-changes"]', 'aria-selected'), 'true');

  const summary = (await page.textContent('[data-testid="changes-summary"]')) ?? '';
  // The demo's change: 3 new files + a rename's new name + a photo; 3 deleted + the rename's old name + a photo;
  // 3 app files, Photos.sqlite, sms.db and the address book modified.
  assert.match(summary, /From the earlier backup of .* to the latest backup: 5 files added, 5 removed, 6 modified/);
  assert.equal(await page.locator('[data-testid="photo-added"]').count(), 1);
  assert.equal(await page.locator('[data-testid="photo-removed"]').count(), 1);
  await page.waitForSelector('[data-testid="photo-added"] img', { timeout: 30000 });
  await page.waitForSelector('[data-testid="photo-removed"] img', { timeout: 30000 });
  assert.match((await page.textContent('[data-testid="conversation-change"]')) ?? '', /2 new messages/);
  const contacts = (await page.textContent('[data-testid="changes-contacts"]')) ?? '';
  assert.match(contacts, /added\s+Nora\d+ Newcomer/);
  assert.match(contacts, /changed .* → .*Married-\d+/);
  assert.equal(await page.getAttribute('[data-testid="category-change"][data-category="photos"]', 'data-category'), 'photos');
  assert.match((await page.textContent('[data-testid="file-renamed"]')) ?? '', /renamed-\d+-/);
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/changes.png`, fullPage: true });

  // The deleted photo lives on in the earlier backup (the one open): export it from there.
  const removed = page.locator('[data-testid="photo-removed"]');
  const name = (await removed.getAttribute('data-name'))!;
  const [download] = await Promise.all([page.waitForEvent('download'), removed.locator('[data-testid="export-removed-photo"]').click()]);
  assert.equal(download.suggestedFilename(), name);
  const bytes = await readFile((await download.path())!);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');

  // From the latest backup, the Changes tab compares with the one before it: the same change, seen from the other side.
  await page.click('[data-testid="back-to-library"]');
  await card.locator('[data-testid="backup-version"]').selectOption({ index: 0 });
  await card.locator('[data-testid="open-backup"]').click();
  await page.click('[data-testid="tab-changes"]');
  await page.waitForSelector('[data-testid="changes-summary"]', { timeout: 60000 });
  assert.match((await page.textContent('[data-testid="changes-summary"]')) ?? '', /to the latest backup: 5 files added, 5 removed, 6 modified/);
  const [again] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid="export-removed-photo"]').click()]);
  assert.equal(again.suggestedFilename(), name);
  assert.deepEqual(await readFile((await again.path())!), bytes);
  assert.deepEqual(errors, []);
});

test('names in conversations, and a conversation and the contact list print (Save as PDF) on their own', async () => {
  await page.click('[data-testid="tab-messages"]');
  await page.locator('[data-testid="chat-list"] button').first().click();
  await page.waitForSelector('[data-testid="bubble"]', { timeout: 30000 });
  // The demo phone's address book has the sender's number in its national form ("0151 …" for "+49151…").
  const title = ((await page.textContent('[data-testid="thread-title"]')) ?? '').trim();
  assert.match(title, /^\p{L}+ \S+$/u, `conversation titled with a contact name, not a number: ${title}`);

  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.isVisible('[data-testid="thread"]'), true);
  assert.equal(await page.isVisible('[data-testid="chat-list"]'), false);
  assert.equal(await page.isVisible('nav'), false);
  assert.equal(await page.isVisible('[data-testid="print-conversation"]'), false);
  const pdf = await page.pdf();
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/conversation-print.png`, fullPage: true });
  assert.equal(Buffer.from(pdf.subarray(0, 5)).toString('latin1'), '%PDF-');
  await page.emulateMedia({ media: 'screen' });
  assert.equal(await page.isVisible('[data-testid="chat-list"]'), true);

  await page.click('[data-testid="tab-contacts"]');
  await page.waitForSelector('[data-testid="contact-list"]', { timeout: 30000 });
  assert.equal(await page.isVisible('[data-testid="contacts-print"]'), false, 'the print table is for paper only');
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.isVisible('[data-testid="contacts-print"]'), true);
  assert.equal(await page.isVisible('[data-testid="contact-list"]'), false);
  assert.match((await page.textContent('[data-testid="contacts-print"]')) ?? '', /Nora\d+ Newcomer.*\+49 170/s);
  await page.emulateMedia({ media: 'screen' });
  assert.deepEqual(errors, []);
});

test('encrypted: the latest backup, unlocked, compares with the earlier ones (the password is reused inside the worker)', async () => {
  await page.click('nav button:has-text("Device")');
  await page.click('[data-testid="encryption-on"]');
  await page.fill('[data-testid="encryption-password"]', 'correct horse');
  await page.fill('[data-testid="encryption-confirm"]', 'correct horse');
  await page.click('[data-testid="encryption-submit"]');
  await page.waitForSelector('[data-testid="phone-passcode"]', { timeout: 30000 });
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="encryption-done"]', { timeout: 60000 });
  await backUp(); // the encrypted one
  await page.click('[data-testid="virtual-phone"] button:has-text("Change some data")');
  await page.waitForTimeout(500);
  await backUp(); // encrypted again, after the change

  await page.click('nav button:has-text("Library")');
  await page.click('[data-testid="back-to-library"]'); // the Library still shows the backup opened before
  const card = page.locator('[data-testid="backup-card"][data-kind="lifeboat"]');
  await card.waitFor({ timeout: 30000 });
  await card.locator('[data-testid="backup-version"]').selectOption({ index: 0 });
  await card.locator('[data-testid="open-backup"]').click();
  await page.waitForSelector('[data-testid="password-prompt"]', { timeout: 30000 });
  await page.fill('[data-testid="password-input"]', 'correct horse');
  await page.click('[data-testid="unlock"]');
  await page.click('[data-testid="tab-changes"]', { timeout: 60000 });
  await page.waitForSelector('[data-testid="changes-summary"]', { timeout: 60000 });
  // Against the encrypted backup just before it: exactly the demo's change (6 modified).
  assert.match((await page.textContent('[data-testid="changes-summary"]')) ?? '', /to the latest backup: 5 files added, 5 removed, 6 modified/);
  assert.equal(await page.locator('[data-testid="photo-added"]').count(), 1);
  await page.waitForSelector('[data-testid="photo-removed"] img', { timeout: 30000 });
  assert.deepEqual(errors, []);
});
