// Node side of the OPFS backup bench: builds this folder with Vite's JS API, serves it on loopback,
// opens it in headless Chromium and collects what the worker reports.
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { CHROMIUM_BENCH_ARGS, serveStatic } from '../static-server.ts';
import type { BackupRunFigures, BenchDatasetKind } from './protocol.ts';
import { watchWorkerHeaps, type WorkerHeapPeak } from './worker-heaps.ts';

export interface OpfsBenchSession {
  run(dataset: BenchDatasetKind, runs: number, extraQuery?: string, timeoutMs?: number): Promise<{ runs: BackupRunFigures[]; store: string; heaps?: WorkerHeapPeak[] }>;
  close(): Promise<void>;
}

/**
 * Builds the page once and keeps one headless Chromium for several measurements. `watchHeaps`
 * samples every worker's JS heap over the DevTools protocol during each run.
 */
export async function openOpfsBench(options: { watchHeaps?: boolean; liveHeapEvery?: number; heapTraceEvery?: number } = {}): Promise<OpfsBenchSession> {
  const { build } = await import('vite');
  const { chromium } = await import('playwright-core');
  const root = fileURLToPath(new URL('./', import.meta.url));
  const outDir = mkdtempSync(join(tmpdir(), 'lifeboat-opfs-bench-'));
  let server: Server | undefined;
  // A persistent profile, not launch()'s default incognito context: incognito OPFS lives in memory,
  // and the point is the real on-disk origin file system the app uses.
  const profileDir = mkdtempSync(join(tmpdir(), 'lifeboat-opfs-profile-'));
  let browser: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
  let port = 0;
  const close = async (): Promise<void> => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    rmSync(outDir, { recursive: true, force: true });
    rmSync(profileDir, { recursive: true, force: true });
  };
  try {
    await build({
      root,
      base: './',
      logLevel: 'error',
      configFile: false,
      publicDir: false,
      optimizeDeps: { exclude: ['@sqlite.org/sqlite-wasm'] },
      build: { outDir, emptyOutDir: true, target: 'es2022', minify: false },
      worker: { format: 'es' },
    });
    server = await serveStatic(outDir);
    port = (server.address() as AddressInfo).port;
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: options.watchHeaps ? [...CHROMIUM_BENCH_ARGS, '--remote-debugging-port=0'] : CHROMIUM_BENCH_ARGS,
    });
  } catch (e) {
    await close();
    throw e;
  }
  const b = browser;
  return {
    async run(dataset, runs, extraQuery, timeoutMs = 570_000) {
      const heaps = options.watchHeaps ? await watchWorkerHeaps(profileDir, 250, options.liveHeapEvery ?? 0, options.heapTraceEvery ?? 0) : undefined;
      const page = await b.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // BENCH_CPU_PROFILE_DIR: each worker's CPU profile of the incremental backup (from its first progress line to the Library).
      const profileInto = process.env.BENCH_CPU_PROFILE_DIR;
      let profiling: Promise<void> | undefined;
      let profilesWritten: Promise<void> | undefined;
      page.on('console', (m) => {
        const text = m.text();
        if (m.type() === 'error') errors.push(text);
        else if (text === 'library: opening') {
          heaps?.mark('library');
          if (profiling && heaps && profileInto) {
            profilesWritten = profiling.then(() => heaps.stopProfiles(profileInto)).then((files) => console.log(`  CPU profiles of the incremental backup: ${files.join(', ')}`));
          }
        } else {
          if (profileInto && heaps && !profiling && text.startsWith('incremental:')) profiling = heaps.startProfiles();
          if (extraQuery) console.log(`  [page] ${text}`);
        }
      });
      try {
        await page.goto(`http://127.0.0.1:${port}/index.html?dataset=${dataset}&runs=${runs}${extraQuery ? `&${extraQuery}` : ''}`);
        await page.waitForFunction(() => window.__backupBenchOutcome !== undefined, undefined, { timeout: timeoutMs, polling: 250 });
        const outcome = await page.evaluate(() => window.__backupBenchOutcome!);
        if ('error' in outcome) throw new Error(`OPFS bench (${dataset}) failed: ${outcome.error} ${errors.join('; ')}`);
        await profilesWritten;
        return heaps ? { ...outcome, heaps: await heaps.stop() } : outcome;
      } finally {
        await page.close();
      }
    },
    close,
  };
}
