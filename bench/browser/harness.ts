// Node side of the browser benches: builds bench/browser with Vite, serves it on loopback and opens one
// page in headless Chromium; the page publishes its outcome on `window.__benchOutcome`.
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { CHROMIUM_BENCH_ARGS, serveStatic } from '../static-server.ts';

import type {} from './harness-types.ts';

/** Opens `pagePath` (e.g. "index.html?mode=worker") and returns the runs it reports. */
export async function runBrowserBench(pagePath: string, input?: unknown): Promise<number[]> {
  const { build } = await import('vite');
  const { chromium } = await import('playwright-core');
  const root = fileURLToPath(new URL('./', import.meta.url));
  const outDir = mkdtempSync(join(tmpdir(), 'lifeboat-browser-bench-'));
  let server: Server | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    await build({
      root,
      base: './',
      logLevel: 'error',
      configFile: false,
      build: { outDir, emptyOutDir: true, target: 'es2022', rollupOptions: { input: { index: join(root, 'index.html'), tls: join(root, 'tls.html'), decrypt: join(root, 'decrypt.html') } } },
      worker: { format: 'es' },
    });
    server = await serveStatic(outDir);
    const { port } = server.address() as AddressInfo;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_BENCH_ARGS,
    });
    const page = await browser.newPage();
    if (input !== undefined) await page.addInitScript((value) => (window.__benchInput = value), input);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/${pagePath}`);
    await page.waitForFunction(() => window.__benchOutcome !== undefined, undefined, { timeout: 300_000 });
    const outcome = await page.evaluate(() => window.__benchOutcome!);
    if ('error' in outcome) throw new Error(`browser bench failed: ${outcome.error} ${errors.join('; ')}`);
    return outcome.runs;
  } finally {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    rmSync(outDir, { recursive: true, force: true });
  }
}
