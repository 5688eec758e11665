// Serves the built app (dist/) on localhost and drives Debian's chromium with playwright-core.
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

// LIFEBOAT_DIST lets a second build be tested beside the default one (`vite build --outDir …`).
const dist = process.env['LIFEBOAT_DIST'] ? `${normalize(process.env['LIFEBOAT_DIST'])}/` : fileURLToPath(new URL('../../dist/', import.meta.url));
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
  '.json': 'application/json',
  '.map': 'application/json',
};

export interface AppServer {
  url: string;
  close(): Promise<void>;
}

export async function serveApp(): Promise<AppServer> {
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = normalize(join(dist, path));
    if (!file.startsWith(dist)) return void res.writeHead(403).end();
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
    } catch {
      file = join(dist, 'index.html');
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Collects page errors so a test can assert the app ran cleanly. */
export async function openApp(context: BrowserContext, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  return { page, errors };
}

/** Demo mode: connects the virtual iPhone and taps Trust on it, as a first-time visitor does. */
export async function connectAndTrustDemo(page: Page): Promise<void> {
  await page.click('[data-testid="try-virtual"]');
  await page.waitForSelector('[data-testid="device-card"]', { timeout: 30000 });
  await page.click('[data-testid="trust"]');
  await page.waitForSelector('[data-testid="phone-trust-dialog"]', { timeout: 30000 });
  await page.click('[data-testid="phone-trust"]');
  await page.waitForSelector('[data-testid="trust-state"]:has-text("This computer is trusted")', { timeout: 30000 });
}

/** "Back up now" on the demo phone, with its passcode typed on the phone (iOS 16.1 and later ask); waits for the end. */
export async function backUpDemo(page: Page, beforePasscode?: () => Promise<void>): Promise<void> {
  await page.click('[data-testid="backup-now"]');
  await page.waitForSelector('[data-testid="backup-stage"][data-stage="waiting-for-passcode"]', { timeout: 30000 });
  await beforePasscode?.();
  await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="backup-done"]', { timeout: 120000 });
}
