// The picked-folder store's ceiling (issue 13): a folder must stay a real Finder folder, so every
// backup file is one `createWritable()` → write → `close()` (Chrome writes a swap file and moves it
// into place on close). Can several writers in flight lift that past 2,000 small files/s? Measured
// in a dedicated worker of headless Chromium on an OPFS directory (headless Chromium shows no folder
// picker; a real disk adds Chrome's own checks on every close, so a picked folder is slower still).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { BenchResult } from './bench-result.ts';
import { CHROMIUM_BENCH_ARGS, serveStatic } from './static-server.ts';

const FILES = 1500;
const SIZE = 2048;
const IN_FLIGHT = [1, 4, 16, 64];

const WORKER = `
self.onmessage = async (event) => {
  const { files, size, inFlight } = event.data;
  const root = await navigator.storage.getDirectory();
  const out = [];
  const bytes = new Uint8Array(size).fill(7);
  for (const k of inFlight) {
    const name = 'folder-writers-' + k;
    await root.removeEntry(name, { recursive: true }).catch(() => {});
    const dir = await root.getDirectoryHandle(name, { create: true });
    const started = performance.now();
    let next = 0;
    const one = async () => {
      while (next < files) {
        const i = next++;
        const handle = await dir.getFileHandle('f' + i, { create: true });
        const w = await handle.createWritable();
        await w.write(bytes);
        await w.close();
      }
    };
    await Promise.all(Array.from({ length: k }, one));
    out.push({ inFlight: k, filesPerSecond: files / ((performance.now() - started) / 1000) });
    await root.removeEntry(name, { recursive: true }).catch(() => {});
  }
  self.postMessage(out);
};`;

const PAGE = `<script>
const w = new Worker('worker.js');
w.onmessage = (e) => { window.result = e.data; };
w.onerror = (e) => { window.result = { error: e.message }; };
w.postMessage({ files: ${FILES}, size: ${SIZE}, inFlight: ${JSON.stringify(IN_FLIGHT)} });
</script>`;

export default async function folderWritersBench(): Promise<BenchResult[]> {
  const { chromium } = await import('playwright-core');
  const site = mkdtempSync(join(tmpdir(), 'lifeboat-folder-writers-'));
  const profile = mkdtempSync(join(tmpdir(), 'lifeboat-folder-writers-profile-'));
  writeFileSync(join(site, 'index.html'), PAGE);
  writeFileSync(join(site, 'worker.js'), WORKER);
  const server = await serveStatic(site);
  // On disk, not incognito: incognito OPFS lives in memory.
  const browser = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_BENCH_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html`);
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 600_000, polling: 250 });
    const result = await page.evaluate(() => (window as unknown as { result: { inFlight: number; filesPerSecond: number }[] | { error: string } }).result);
    if (!Array.isArray(result)) throw new Error(`folder writers bench failed: ${result.error}`);
    for (const r of result) console.log(`  createWritable, ${r.inFlight} in flight: ${r.filesPerSecond.toFixed(0)} files/s`);
    return result.map((r) => ({
      name: `picked-folder store: createWritable per ${SIZE / 1024} KiB file, ${r.inFlight} in flight (OPFS folder, Chromium worker) files/s`,
      value: r.filesPerSecond,
      unit: 'files/s',
      target: 2000,
      better: 'higher' as const,
    }));
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(site, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}
