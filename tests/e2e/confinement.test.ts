// The browser writers against a hostile backup, in headless Chromium: the picked folder is an OPFS
// folder (no picker in headless mode). Export folder (DirectoryHandleTarget), Export all as .zip,
// Finder-compatible copy into <UDID>/ and the Finder-compatible .zip: every hostile row is refused
// and named in the page, the rest is written, nothing lands outside.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer } from './harness.ts';
import { hostileBackup, UDID, type HostileBackup } from '../confinement/hostile-corpus.ts';
import { ZipSource } from '../../src/library/source/zip-source.ts';
import { locateBackup } from '../../src/library/source/locate.ts';

let server: AppServer;
let browser: Browser;
let h: HostileBackup;

before(async () => {
  [h, server, browser] = await Promise.all([hostileBackup(), serveApp(), launchChromium()]);
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (h) for (const dir of [h.backup.dir, h.outside]) await rm(dir, { recursive: true, force: true });
});

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

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ acceptDownloads: true });
  await context.addInitScript(() => {
    const w = window as unknown as Record<string, unknown>;
    w['showSaveFilePicker'] = undefined;
    w['showDirectoryPicker'] = async () => {
      const root = await navigator.storage.getDirectory();
      return (await root.getDirectoryHandle('fixtures', { create: true })).getDirectoryHandle(String(w['__pick']), { create: true });
    };
  });
  return context;
}

async function putInOpfs(page: Page, name: string, files: Record<string, string>): Promise<void> {
  await page.evaluate(
    async ({ name, files }) => {
      const root = await navigator.storage.getDirectory();
      const base = await (await root.getDirectoryHandle('fixtures', { create: true })).getDirectoryHandle(name, { create: true });
      for (const [path, b64] of Object.entries(files)) {
        const parts = path.split('/');
        const file = parts.pop()!;
        let dir = base;
        for (const p of parts) dir = await dir.getDirectoryHandle(p, { create: true });
        const writable = await (await dir.getFileHandle(file, { create: true })).createWritable();
        await writable.write(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
        await writable.close();
      }
    },
    { name, files },
  );
}

/** Every path in OPFS `fixtures/<name>`, folders with a trailing "/". */
function opfsPaths(page: Page, name: string): Promise<string[]> {
  // A stack, not a recursive helper: tsx would wrap a named inner function in a helper the page lacks.
  return page.evaluate(async (name) => {
    const out: string[] = [];
    const root = await navigator.storage.getDirectory();
    const stack: [FileSystemDirectoryHandle, string][] = [[await (await root.getDirectoryHandle('fixtures')).getDirectoryHandle(name), '']];
    while (stack.length) {
      const [dir, prefix] = stack.pop()!;
      for await (const handle of (dir as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) {
        const path = `${prefix}${handle.name}`;
        if (handle.kind === 'directory') {
          out.push(`${path}/`);
          stack.push([handle as FileSystemDirectoryHandle, `${path}/`]);
        } else out.push(path);
      }
    }
    return out.sort();
  }, name);
}

async function pick(page: Page, name: string): Promise<void> {
  await page.evaluate((n) => ((window as unknown as Record<string, unknown>)['__pick'] = n), name);
}

/** Waits for the export to finish and returns its message and the refused rows the page lists. */
async function exportOutcome(page: Page): Promise<{ done: string; refused: string[] }> {
  const done = page.locator('[data-testid="export-done"]');
  await done.waitFor({ timeout: 30000 }).catch(async (e) => {
    throw new Error(`${e}\n${await page.innerText('main')}`);
  });
  const refused = await page.locator('[data-testid="export-refused"] li').allInnerTexts();
  return { done: await done.innerText(), refused };
}

async function zipFrom(page: Page, click: () => Promise<void>): Promise<ZipSource> {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  const bytes = await readFile((await download.path())!);
  return ZipSource.open(new Blob([bytes]), download.suggestedFilename());
}

test('browser writers: a hostile backup exported to a folder, a zip, a Finder copy and a Finder zip; hostile rows named, nothing outside', async () => {
  const context = await newContext();
  const { page, errors } = await openApp(context, server.url);
  await page.click('nav button:has-text("Library")');
  await page.waitForSelector('[data-testid="library-empty"]');
  await putInOpfs(page, 'hostile', await filesOf(h.backup.dir));
  await pick(page, 'hostile');
  await page.click('[data-testid="import-folder"]');
  await page.locator('[data-testid="backup-card"] [data-testid="open-backup"]').click();
  await page.waitForSelector('[data-testid="overview-categories"]', { timeout: 20000 });

  // Export all as .zip: decrypted rows by name; every hostile row refused and listed.
  const zip = await zipFrom(page, () => page.click('button:has-text("Export all as .zip")'));
  const outcome = await exportOutcome(page);
  assert.match(outcome.done, new RegExp(`${h.hostile.length + 1} refused`));
  assert.equal(outcome.refused.length, h.hostile.length + 1);
  for (const { shown } of h.hostile) assert.ok(outcome.refused.some((l) => l.includes(`“${shown.replace(/\0/g, '\\x00')}”`)), `${shown} in ${outcome.refused.join('\n')}`);
  assert.deepEqual(zip.refused, [], 'the zip written holds only confined names');
  assert.ok((await zip.list('')).map((e) => e.name).includes('HomeDomain'));

  // Export folder… (HomeDomain) into a picked folder: the through-link rows refused, links as .symlink.txt files.
  await pick(page, 'out-folder');
  await page.click('[data-testid="tab-files"]');
  await page.click('nav.domains button:has-text("HomeDomain")');
  await page.click('button:has-text("Export folder…")');
  const folder = await exportOutcome(page);
  const folderPaths = await opfsPaths(page, 'out-folder');
  assert.ok(folderPaths.includes('HomeDomain/Library/SMS/sms.db'), folderPaths.join('\n'));
  assert.ok(folderPaths.includes('HomeDomain/Library/Evil.symlink.txt'));
  assert.ok(!folderPaths.some((p) => p.includes('escaped')), folderPaths.join('\n'));
  assert.ok(folder.refused.some((l) => l.includes('HomeDomain/Library/Evil/escaped-through-link.txt') && l.includes('symlink')), folder.refused.join('\n'));

  // Finder-compatible copy… goes into <UDID>/ inside the picked folder and says so.
  await pick(page, 'out-finder');
  await page.click('button:has-text("Finder-compatible copy…")');
  const finder = await exportOutcome(page);
  assert.match(finder.done, new RegExp(`“out-finder/${UDID}”`));
  assert.equal(finder.refused.length, 1);
  assert.match(finder.refused[0]!, /escaped-fileid/);
  const finderPaths = await opfsPaths(page, 'out-finder');
  assert.ok(finderPaths.every((p) => p.startsWith(`${UDID}/`)), finderPaths.join('\n'));
  for (const name of ['Info.plist', 'Manifest.plist', 'Manifest.db', 'Status.plist']) assert.ok(finderPaths.includes(`${UDID}/${name}`), name);

  // Finder-compatible .zip: the same raw layout under <UDID>/, openable as a backup.
  const finderZip = await zipFrom(page, () => page.click('[data-testid="export-finder-zip"]'));
  await exportOutcome(page);
  assert.deepEqual((await finderZip.list('')).map((e) => e.name), [UDID]);
  assert.equal((await locateBackup(finderZip)).path, UDID);
  assert.deepEqual(await readdir(h.outside), []);
  assert.deepEqual(errors, []);
  await context.close();
});
