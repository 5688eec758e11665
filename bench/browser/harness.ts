// Node side of the browser benches: builds bench/browser with Vite, serves it on loopback and opens one
// page in headless Chromium; the page publishes its outcome on `window.__benchOutcome`.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

import type {} from './harness-types.ts';

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css' };

function serve(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.startsWith(root) && existsSync(path) && statSync(path).isFile() ? path : join(root, 'index.html');
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

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
    server = await serve(outDir);
    const { port } = server.address() as AddressInfo;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
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
