// blobFileRead in Chromium's own worker, over a File backed by a file on disk (what a picked folder's
// Manifest.db is; here it comes from a file input): FileReaderSync must give the file's bytes at any
// offset and size, and once the file on disk changes, a read must refuse rather than mix old pages
// with new, since SQLite reads that database in place for as long as the backup is open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtemp, readFile, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformWithEsbuild } from 'vite';
import type { Browser } from 'playwright-core';
import { serveApp, launchChromium, type AppServer } from './harness.ts';

let server: AppServer;
let browser: Browser;
let dir: string;
before(async () => {
  server = await serveApp();
  browser = await launchChromium();
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-blob-read-'));
});
after(async () => {
  await browser?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const SIZE = 300_123;
const pattern = (i: number): number => (i * 2654435761) >>> 24;

// Runs in a dedicated worker after the module, which defines `lifeboat.blobFileRead`. Source text, not a
// function: tsx would add helpers the worker does not have. Given the File, it reads at random and compares;
// then, asked again, it reads the same File afresh and says whether it could.
const WORKER_TEST = `
let blob;
const pattern = (i) => (i * 2654435761) >>> 24;
onmessage = (e) => {
  const out = {};
  try {
    if (e.data.file) {
      blob = e.data.file;
      const file = lifeboat.blobFileRead(blob);
      out.size = file.size;
      out.mismatches = [];
      let seed = 11;
      const random = (n) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
      for (let k = 0; k < 300; k++) {
        const at = random(150000);
        const length = [1, 4096, 65536, 100000][random(4)];
        const into = new Uint8Array(length);
        const got = file.read(into, at);
        const want = Math.max(0, Math.min(file.size, at + length) - at);
        let same = got === want;
        for (let i = 0; same && i < got; i++) same = into[i] === pattern(at + i);
        if (!same) out.mismatches.push(at + '+' + length);
      }
    } else {
      try {
        // A reader of its own, so nothing it reads was kept from before.
        lifeboat.blobFileRead(blob).read(new Uint8Array(4096), 200000);
        out.changedRead = 'read';
      } catch (error) {
        out.changedRead = error.name;
      }
    }
  } catch (error) {
    out.error = String((error && error.stack) || error);
  }
  postMessage(out);
};`;

test('in a worker, a file on disk reads exactly through FileReaderSync, and refuses once it changed', async () => {
  const path = join(dir, 'Manifest.db');
  const bytes = new Uint8Array(SIZE).map((_, i) => pattern(i));
  await writeFile(path, bytes);
  const entry = fileURLToPath(new URL('../../src/core/blob-file-read.ts', import.meta.url));
  // The module imports only a type, so it stands alone once its types are stripped.
  const module = await transformWithEsbuild(await readFile(entry, 'utf8'), entry, { format: 'iife', globalName: 'lifeboat', target: 'es2022' });
  const page = await browser.newPage();
  try {
    // A page of the app's origin without the app's CSP, which allows no worker from a blob: URL.
    const url = new URL('blob-file-read-test.html', server.url).href;
    await page.route(url, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><input type="file">' }));
    await page.goto(url);
    await page.evaluate((code) => {
      const w = window as unknown as { testWorker: Worker; ask: (message: unknown) => Promise<unknown> };
      w.testWorker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
      w.ask = (message) =>
        new Promise((resolve) => {
          w.testWorker.onmessage = (e) => resolve(e.data);
          w.testWorker.onerror = (e) => resolve({ error: e.message || 'the worker failed' });
          w.testWorker.postMessage(message);
        });
    }, module.code + WORKER_TEST);
    await page.setInputFiles('input', path);
    type Answer = { size?: number; mismatches?: string[]; changedRead?: string; error?: string };
    const ask = (withFile: boolean) =>
      page.evaluate((withFile) => {
        const w = window as unknown as { ask: (message: unknown) => Promise<unknown> };
        return w.ask(withFile ? { file: document.querySelector('input')!.files![0] } : {}) as Promise<Answer>;
      }, withFile);
    const first = await ask(true);
    assert.equal(first.error, undefined);
    assert.equal(first.size, SIZE);
    assert.deepEqual(first.mismatches, []);
    const unchanged = await ask(false);
    assert.equal(unchanged.changedRead, 'read', 'an unchanged file reads anywhere');
    // The same size, new bytes and a new modification time: what a tool rewriting the backup leaves.
    await writeFile(path, new Uint8Array(SIZE).fill(0xee));
    const later = new Date(Date.now() + 5_000);
    await utimes(path, later, later);
    const changed = await ask(false);
    assert.equal(changed.error, undefined);
    assert.equal(changed.changedRead, 'NotReadableError', 'a changed file refuses to read');
  } finally {
    await page.close();
  }
});
