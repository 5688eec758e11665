// MB/s through one MuxConnection, device → host (the backup direction):
// (a) in Node, host stack + fake USB + virtual iPhone in one process;
// (b) in headless Chromium, host stack on the page and the virtual iPhone in a Worker.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { median, type BenchResult } from './bench-result.ts';
import { registerBenchServices, measureDownload } from './browser/bench-services.ts';
import { MuxDeviceConnector } from '../src/usbmux/mux-device-connector.ts';
import { createFakeUsbWithIPhone } from '../src/virtual-iphone/usb/fake-usb-device.ts';
import { VirtualIPhone } from '../src/virtual-iphone/virtual-iphone.ts';

const TARGET_MBPS = 400;
const RUNS = 3;

async function nodeInProcess(): Promise<number[]> {
  const iphone = new VirtualIPhone();
  registerBenchServices(iphone.ports);
  const { usb, device } = createFakeUsbWithIPhone(iphone);
  const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb, log: () => {} });
  const connect = (port: number) => connector.connect(port);
  await measureDownload(connect, 32 * 1024 * 1024); // warm-up (JIT)
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measureDownload(connect, 256 * 1024 * 1024));
  await connector.close();
  return runs;
}

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

async function chromium(mode: 'worker' | 'inline'): Promise<number[]> {
  const { build } = await import('vite');
  const { chromium: launcher } = await import('playwright-core');
  const root = fileURLToPath(new URL('./browser/', import.meta.url));
  const outDir = mkdtempSync(join(tmpdir(), 'lifeboat-mux-bench-'));
  let server: Server | undefined;
  let browser: Awaited<ReturnType<typeof launcher.launch>> | undefined;
  try {
    await build({ root, base: './', logLevel: 'error', configFile: false, build: { outDir, emptyOutDir: true, target: 'es2022' }, worker: { format: 'es' } });
    server = await serve(outDir);
    const { port } = server.address() as AddressInfo;
    browser = await launcher.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/index.html?mode=${mode}&runs=${RUNS}&bytes=${256 * 1024 * 1024}`);
    await page.waitForFunction(() => window.__muxBench !== undefined, undefined, { timeout: 300_000 });
    const outcome = await page.evaluate(() => window.__muxBench!);
    if ('error' in outcome) throw new Error(`browser bench failed: ${outcome.error} ${errors.join('; ')}`);
    return outcome.runs;
  } finally {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    rmSync(outDir, { recursive: true, force: true });
  }
}

export default async function muxBench(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const node = await nodeInProcess();
  console.log(`  mux node in-process runs (MB/s): ${node.map((v) => v.toFixed(0)).join(', ')}`);
  results.push({ name: 'mux download, Node in-process (fake USB + virtual iPhone)', value: median(node), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  const inline = await chromium('inline');
  console.log(`  mux chromium in-page runs (MB/s): ${inline.map((v) => v.toFixed(0)).join(', ')}`);
  results.push({ name: 'mux download, Chromium, virtual iPhone on the page', value: median(inline), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  const browser = await chromium('worker');
  console.log(`  mux chromium+worker runs (MB/s): ${browser.map((v) => v.toFixed(0)).join(', ')}`);
  results.push({ name: 'mux download, Chromium page ↔ virtual iPhone in a Worker', value: median(browser), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  return results;
}
