// The Library screens in headless Chromium: import through the real "Open a backup folder…" button
// (showDirectoryPicker returns an OPFS folder the test filled), unlock, read messages, photos and
// contacts, export a vCard, import a .zip, and check it all survives a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';
import { generateBackup, type GeneratedBackup } from '../library/backup-generator.ts';

const PASSWORD = 'correct horse';
const SHOTS = process.env.LIFEBOAT_SCREENSHOTS; // a folder: write screenshots there for a person to look at

/** A real 96×96 PNG (a gradient), so the photo view has something a browser can decode. */
function gradientPng(size = 96): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body) >>> 0, 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const raw = Buffer.alloc(size * (1 + size * 3));
  for (let y = 0; y < size; y++) {
    const row = y * (1 + size * 3);
    for (let x = 0; x < size; x++) {
      raw[row + 1 + x * 3] = 20 + x;
      raw[row + 2 + x * 3] = 90 + y;
      raw[row + 3 + x * 3] = 200;
    }
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]));
}

const PHOTO = { domain: 'CameraRollDomain', relativePath: 'Media/DCIM/100APPLE/IMG_0003.PNG', kind: 'file' as const, content: gradientPng() };

async function filesOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[relative(dir, p)] = (await readFile(p)).toString('base64');
    }
  };
  await walk(dir);
  return out;
}

let server: AppServer;
let browser: Browser;
let plain: GeneratedBackup;
let encrypted: GeneratedBackup;
let work: string;
let zipPath: string;

before(async () => {
  [plain, encrypted] = await Promise.all([generateBackup({ extra: [PHOTO] }), generateBackup({ password: PASSWORD, extra: [PHOTO] })]);
  work = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-library-'));
  zipPath = join(work, 'Backup.zip');
  // A zip as Finder users make one: the device folder inside, under its own name.
  const zip = spawnSync('zip', ['-qr', zipPath, basename(plain.dir)], { cwd: join(plain.dir, '..') });
  assert.equal(zip.status, 0, `zip failed: ${zip.stderr}`);
  server = await serveApp();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
  for (const dir of [plain?.dir, encrypted?.dir, work]) if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Headless Chromium shows no pickers: the folder picker hands back OPFS `fixtures/<window.__pick>`,
 * and the save picker is absent, so exports fall back to downloads Playwright can catch.
 */
async function newLibraryContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  await context.addInitScript(() => {
    const w = window as unknown as Record<string, unknown>;
    w['showSaveFilePicker'] = undefined;
    w['showDirectoryPicker'] = async () => {
      const root = await navigator.storage.getDirectory();
      return (await root.getDirectoryHandle('fixtures')).getDirectoryHandle(String(w['__pick']));
    };
  });
  return context;
}

async function putInOpfs(page: Page, name: string, files: Record<string, string>): Promise<void> {
  await page.evaluate(
    async ({ name, files }) => {
      const root = await navigator.storage.getDirectory();
      let dir = await (await root.getDirectoryHandle('fixtures', { create: true })).getDirectoryHandle(name, { create: true });
      const base = dir;
      for (const [path, b64] of Object.entries(files)) {
        const parts = path.split('/');
        const file = parts.pop()!;
        dir = base;
        for (const p of parts) dir = await dir.getDirectoryHandle(p, { create: true });
        const writable = await (await dir.getFileHandle(file, { create: true })).createWritable();
        await writable.write(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
        await writable.close();
      }
    },
    { name, files },
  );
}

async function pickAndImport(page: Page, name: string, expectedCards: number): Promise<void> {
  await page.evaluate((n) => ((window as unknown as Record<string, unknown>)['__pick'] = n), name);
  await page.click('[data-testid="import-folder"]');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="backup-card"]').length === n, expectedCards, { timeout: 15000 });
}

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test('library: import folders, unlock, read messages/photos/contacts, export a vCard, import a zip', async () => {
  const context = await newLibraryContext();
  const { page, errors } = await openApp(context, server.url);
  page.on('dialog', (d) => void d.accept());
  await page.click('nav button:has-text("Library")');
  await page.waitForSelector('[data-testid="library-empty"]');

  await putInOpfs(page, 'plain', await filesOf(plain.dir));
  await putInOpfs(page, 'encrypted', await filesOf(encrypted.dir));
  await pickAndImport(page, 'plain', 1);
  await pickAndImport(page, 'encrypted', 2);
  const cards = page.locator('[data-testid="backup-card"]');
  assert.equal(await cards.filter({ hasText: 'Test iPhone' }).count(), 2);
  const plainCard = cards.filter({ hasText: 'Not encrypted' });
  const lockedCard = cards.filter({ has: page.locator('.badge.enc') });
  assert.match(await plainCard.innerText(), /iPhone 13 · iOS 17\.4/);
  assert.match(await plainCard.innerText(), /Complete/);
  assert.match(await lockedCard.innerText(), /shown after unlocking/);
  assert.match(await plainCard.innerText(), /read in place/);

  // Verify the unencrypted one from the list.
  await plainCard.locator('[data-testid="verify-backup"]').click();
  await plainCard.locator('[data-testid="verify-ok"]').waitFor({ timeout: 30000 }).catch(async (e) => {
    throw new Error(`${e}\n${await page.innerText('main')}`);
  });
  await shot(page, 'library-list');

  // The encrypted one: a wrong password first, said plainly; then the right one.
  await lockedCard.locator('[data-testid="open-backup"]').click();
  await page.waitForSelector('[data-testid="password-prompt"]');
  await page.fill('[data-testid="password-input"]', 'not it');
  await page.click('[data-testid="unlock"]');
  const wrong = page.locator('[data-testid="password-prompt"] [data-testid="library-error"]');
  await wrong.waitFor({ timeout: 20000 });
  assert.equal(await wrong.getAttribute('data-code'), 'wrong-password');
  assert.match(await wrong.innerText(), /Wrong password/);
  await shot(page, 'wrong-password');
  await page.fill('[data-testid="password-input"]', PASSWORD);
  await page.click('[data-testid="unlock"]');
  await page.waitForSelector('[data-testid="overview-categories"]', { timeout: 20000 });
  await shot(page, 'overview');
  const overview = await page.innerText('[data-testid="overview-categories"]');
  assert.match(overview, /Messages/);
  assert.ok(
    await page.locator('[data-category="messages"] .count').innerText().then((t) => Number(t) >= 1),
    'the overview counts the conversation',
  );

  // Messages: the conversation's bubbles, with the photo attachment inline.
  await page.click('[data-testid="tab-messages"]');
  // The conversation is titled with the contact its number belongs to (sms.db knows only "+15551234567").
  await page.click('[data-testid="chat-list"] button:has-text("Ada Lovelace")');
  await page.waitForSelector('[data-testid="bubble"]');
  const bubbles = page.locator('[data-testid="bubble"]');
  assert.equal(await bubbles.count(), 3);
  assert.match(await bubbles.nth(0).innerText(), /Hi <there> & welcome/);
  assert.match(await bubbles.nth(1).innerText(), /Thanks!/);
  assert.equal(await page.locator('.message.me').count(), 1, 'my message is on my side');
  // The generator's attachment is a 22-byte JPEG with no picture in it: the browser cannot decode it,
  // so it is offered as a file to save instead of a broken image.
  await bubbles.nth(2).locator('.attachment.file:has-text("IMG_0001.jpeg") button:has-text("Save")').waitFor();
  await shot(page, 'messages');

  // Photos: the grid, then the real PNG full size (decoded from the decrypted bytes).
  await page.click('[data-testid="tab-photos"]');
  await page.click('[data-testid="photo-tile"][data-name="IMG_0003.PNG"]');
  const viewerImage = page.locator('[data-testid="media-viewer"] img');
  await viewerImage.waitFor({ timeout: 10000 });
  await page.waitForFunction(() => {
    const img = document.querySelector<HTMLImageElement>('[data-testid="media-viewer"] img');
    return !!img && img.complete && img.naturalWidth === 96;
  });
  assert.match((await viewerImage.getAttribute('src')) ?? '', /^blob:/);
  await shot(page, 'photo');
  await page.click('[data-testid="media-viewer"] button:has-text("Close")');

  // Contacts: one contact's vCard, as a download.
  await page.click('[data-testid="tab-contacts"]');
  await page.click('[data-testid="contact-list"] button:has-text("Ada Lovelace")');
  assert.match(await page.innerText('[data-testid="contact-detail"]'), /ada@example\.com/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="export-vcard"]')]);
  assert.equal(download.suggestedFilename(), 'Ada Lovelace.vcf');
  const vcard = await readFile((await download.path())!, 'utf8');
  assert.match(vcard, /^BEGIN:VCARD\r?\n/);
  assert.match(vcard, /FN:Ada Lovelace/);
  assert.match(vcard, /ada@example\.com/);
  assert.doesNotMatch(vcard, /Acme/, 'only the chosen contact');
  assert.equal(vcard.match(/BEGIN:VCARD/g)?.length, 1);
  await shot(page, 'contacts');

  // Search, as you type: message text, contact names and file paths.
  await page.click('[data-testid="tab-search"]');
  await page.fill('[data-testid="search-input"]', 'thanks');
  await page.waitForSelector('[data-testid="search-messages"]:has-text("Thanks!")', { timeout: 10000 });
  await page.fill('[data-testid="search-input"]', 'lovelace');
  await page.waitForSelector('[data-testid="search-contacts"]:has-text("Ada Lovelace")', { timeout: 10000 });
  assert.equal(await page.locator('[data-testid="search-messages"]').count(), 0, 'the earlier message results are gone');
  // Part of the number, typed with other punctuation, finds the conversation.
  await page.fill('[data-testid="search-input"]', '555-123');
  await page.waitForSelector('[data-testid="search-conversations"]:has-text("+15551234567")', { timeout: 10000 });
  // A message hit opens its conversation with that message marked.
  await page.fill('[data-testid="search-input"]', 'welcome');
  await page.click('[data-testid="search-messages"] button:has-text("Hi <there> & welcome")', { timeout: 10000 });
  await page.waitForSelector('[data-testid="bubble"].highlighted:has-text("Hi <there> & welcome")', { timeout: 10000 });
  assert.equal(await page.locator('[data-testid="bubble"].highlighted').count(), 1);
  await page.click('[data-testid="tab-search"]');
  await page.fill('[data-testid="search-input"]', 'sms.db');
  await page.waitForSelector('[data-testid="search-files"]:has-text("Library/SMS/sms.db")', { timeout: 10000 });

  // Files: browse a domain and preview a text file.
  await page.click('[data-testid="tab-files"]');
  await page.click('button:has-text("AppDomain-com.example.app")');
  await page.click('[data-testid="file-list"] button:has-text("Documents")');
  await page.click('[data-testid="file-list"] button:has-text("hello.txt")');
  await page.waitForSelector('[data-testid="file-preview"] pre:has-text("hello from the app")');
  await shot(page, 'files');

  // The list persists in IndexedDB: after a reload both backups are still there, now with counts.
  await page.reload();
  await page.click('nav button:has-text("Library")');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="backup-card"]').length === 2);
  assert.doesNotMatch(await page.locator('[data-testid="backup-card"]', { has: page.locator('.badge.enc') }).innerText(), /shown after unlocking/);

  // A .zip of a backup folder through the file input.
  await page.setInputFiles('[data-testid="import-zip"]', zipPath);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="backup-card"]').length === 3, null, { timeout: 15000 });
  const zipCard = page.locator('[data-testid="backup-card"][data-kind="zip"]');
  assert.match(await zipCard.innerText(), /Zip file “Backup\.zip”/);
  await zipCard.locator('[data-testid="open-backup"]').click();
  await page.click('[data-testid="tab-messages"]');
  await page.click('[data-testid="chat-list"] button:has-text("Ada Lovelace")');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="bubble"]').length === 3);
  await page.click('[data-testid="back-to-library"]');

  // Forget the zip: it leaves the list (the file itself was never ours to delete).
  await zipCard.locator('[data-testid="remove-backup"]').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="backup-card"]').length === 2);

  assert.deepEqual(errors, []);
  await context.close();
});

test('library: copy a folder into the browser with progress, then delete the copy', async () => {
  const context = await newLibraryContext();
  const { page, errors } = await openApp(context, server.url);
  page.on('dialog', (d) => void d.accept());
  await page.click('nav button:has-text("Library")');
  await page.waitForSelector('[data-testid="library-empty"]');
  await putInOpfs(page, 'plain', await filesOf(plain.dir));
  await page.evaluate(() => ((window as unknown as Record<string, unknown>)['__pick'] = 'plain'));
  await page.click('[data-testid="copy-folder"]');
  const copy = page.locator('[data-testid="backup-card"][data-kind="copy"]');
  await copy.waitFor({ timeout: 15000 });
  assert.match(await copy.innerText(), /In this browser — copied from “plain”/);
  const copied = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const library = await root.getDirectoryHandle('library');
    const names: string[] = [];
    for await (const [name] of (library as unknown as AsyncIterable<[string, unknown]>)) names.push(name);
    const dir = await library.getDirectoryHandle(names[0]!);
    return (await (await dir.getFileHandle('Manifest.db')).getFile()).size;
  });
  assert.equal(copied, (await readFile(join(plain.dir, 'Manifest.db'))).length, 'Manifest.db was copied byte for byte');

  // The copy opens from OPFS even after the source folder is gone.
  await page.evaluate(async () => (await (await navigator.storage.getDirectory()).getDirectoryHandle('fixtures')).removeEntry('plain', { recursive: true }));
  await copy.locator('[data-testid="open-backup"]').click();
  await page.waitForSelector('[data-testid="overview-categories"]', { timeout: 15000 });
  await page.click('[data-testid="back-to-library"]');

  await copy.locator('[data-testid="remove-backup"]').click();
  await page.waitForSelector('[data-testid="library-empty"]');
  const left = await page.evaluate(async () => {
    const library = await (await navigator.storage.getDirectory()).getDirectoryHandle('library');
    let n = 0;
    for await (const _ of library as unknown as AsyncIterable<unknown>) n++;
    return n;
  });
  assert.equal(left, 0, 'the OPFS copy is deleted');
  assert.ok(await page.isVisible('[data-testid="storage-card"]'));
  assert.deepEqual(errors, []);
  await context.close();
});
