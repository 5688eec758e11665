// Backup throughput, side by side (issue 4's "Done means"):
//  1. Node, CLI path: the medium dataset (≈5k files, 209 MB) into NodeFsBackupStore through a real
//     usbmuxd socket and lockdown, files/s and MB/s as the CLI reports them;
//  2. our CLI vs idevicebackup2, wall time of each process on the same virtual iPhone (ratio ≤ 1);
//  3. OPFS in headless Chromium (engine + OpfsBackupStore + the device's services in one dedicated
//     worker): large-file MB/s and small files/s; and small files/s with the device in a worker of its
//     own behind USB-over-MessagePort, mux and lockdown, as the app's demo mode runs it;
//  4. peak JS heap of the host during a backup of the `large` dataset (4 GB incl. a 2 GB file).
// The virtual iPhone of 1, 2 and 4 runs in its own process (`npm run virtual-iphone`), so both
// clients get the same device and the host's figures are the host's alone. Our CLI runs as shipped
// would: bundled (Vite, SSR build) and started with plain `node`, like idevicebackup2 is a binary.
//  5. (issue 13) our CLI vs idevicebackup2 on the large dataset, one run each: CPU ratio (≤ 1.2×) and
//     our process's peak RSS (≤ 100 MB), both from GNU time.
// BENCH_BACKUP_SKIP_LARGE=1 skips the 4 GB heap run (it takes minutes); BENCH_BACKUP_SECTIONS=cli,opfs,large,cli-large
// picks sections. The 1.3M-file runs are bench/huge.bench.ts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli/main.ts';
import { CLI_NODE_FLAGS } from '../src/cli/node-flags.ts';
import { median, type BenchResult } from './bench-result.ts';
import { openOpfsBench } from './browser-backup/harness.ts';
import { LARGE_FILES, SMALL_FILES } from './browser-backup/bench-datasets.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = 3;
/**
 * Small-file OPFS runs take about a second each; the first of them is cold (JIT, and the device
 * building and caching its Manifest.db), so five runs keep one cold run from setting the median.
 */
const SMALL_FILE_RUNS = 5;
const IDEVICEBACKUP2 = '/usr/bin/idevicebackup2';

const GNU_TIME = '/usr/bin/time';

export interface Exec {
  code: number;
  out: string;
  seconds: number;
  /** user+sys CPU seconds of the process, when GNU time is there to measure it (less noisy than wall time). */
  cpuSeconds: number | null;
  /** Peak resident set of the process in bytes (GNU time's %M), when measured. */
  maxRssBytes: number | null;
}

/** Dirty and under-writeback page cache, in bytes (Linux; 0 where /proc/meminfo is missing). */
function unwrittenBytes(): number {
  try {
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? 0);
    return (kb('Dirty') + kb('Writeback')) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Before each client's backup: the previous client's writes are flushed and, where we may (root), the page
 * cache is dropped, so each client starts from the same disk state. Without it the second client paid for
 * the first one's writes (4.2 GB on large, still being written back) and in the huge bench each incremental
 * round was won by whichever client went first (stop 40: 31.0/31.8, 35.2/33.2, 31.5/37.8 s). Cold is also
 * the person's case: their previous backup was made days ago.
 */
export function settleDisk(): string {
  const before = unwrittenBytes();
  const started = performance.now();
  try {
    execFileSync('sync');
  } catch {
    return 'sync unavailable';
  }
  let dropped = false;
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    dropped = true;
  } catch {
    // Not root, or no such file: flushed only.
  }
  return `${(before / 1e6).toFixed(0)} MB flushed${dropped ? ', page cache dropped' : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s`;
}

/**
 * Keeps the first and the last part of a process's output. idevicebackup2 redraws a progress bar for
 * every file, which at 1.3M files is hundreds of MB: execFile's maxBuffer killed it mid-backup.
 */
class OutputKeeper {
  private head = '';
  private tail = '';
  private dropped = 0;
  constructor(private readonly limit = 1 << 20) {}
  add(text: string): void {
    if (this.head.length < this.limit) {
      const room = this.limit - this.head.length;
      this.head += text.slice(0, room);
      text = text.slice(room);
    }
    this.tail += text;
    if (this.tail.length > 2 * this.limit) {
      this.dropped += this.tail.length - this.limit;
      this.tail = this.tail.slice(-this.limit);
    }
  }
  toString(): string {
    return this.dropped > 0 ? `${this.head}\n[… ${this.dropped} characters of output left out …]\n${this.tail}` : this.head + this.tail;
  }
}

export function exec(file: string, args: string[], env: Record<string, string>, options: { measureCpu?: boolean; timeoutMs?: number } = {}): Promise<Exec> {
  const timed = options.measureCpu === true && existsSync(GNU_TIME);
  const cpuFile = timed ? join(mkdtempSync(join(tmpdir(), 'lifeboat-bench-cpu-')), 'cpu') : '';
  const [command, argv] = timed ? [GNU_TIME, ['-o', cpuFile, '-f', '%U %S %M', file, ...args]] : [file, args];
  const started = performance.now();
  return new Promise((resolve) => {
    const output = new OutputKeeper();
    const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (d: string) => output.add(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => output.add(d));
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 30 * 60_000);
    child.once('error', (error) => output.add(`\n${error.message}\n`));
    child.once('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      let cpuSeconds: number | null = null;
      let maxRssBytes: number | null = null;
      if (timed) {
        const fields = existsSync(cpuFile) ? /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(readFileSync(cpuFile, 'utf8')) : null;
        if (fields) {
          cpuSeconds = Number(fields[1]) + Number(fields[2]);
          maxRssBytes = Number(fields[3]) * 1024;
        }
        rmSync(dirname(cpuFile), { recursive: true, force: true });
      }
      resolve({ code: code ?? -1, out: output.toString(), seconds, cpuSeconds, maxRssBytes });
    });
  });
}

/**
 * CPU time a process has had so far (all its threads) and its main thread's, from the kernel's
 * scheduler statistics (nanoseconds, exact); null where /proc has no schedstat (not Linux).
 */
export function processCpuSeconds(pid: number): { all: number; main: number } | null {
  try {
    const runNs = (task: string): number => Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    let all = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        all += runNs(task);
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
    return { all: all / 1e9, main: runNs(String(pid)) / 1e9 };
  } catch {
    return null;
  }
}

/** `npm run virtual-iphone -- --dataset SIZE [extra options]` on a private socket; resolves once it serves. */
export async function startVirtualIPhone(dataset: 'small' | 'medium' | 'large' | 'huge', extraArgs: string[] = []): Promise<{ address: string; pid: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-bench-iphone-'));
  const address = `UNIX:${join(dir, 'usbmuxd.sock')}`;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/virtual-iphone/node/main.ts', '--usbmuxd', address, '--dataset', dataset, ...extraArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
        if (output.includes('is serving at')) resolve();
      });
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      child.once('exit', (code) => reject(new Error(`virtual iPhone exited (${code}): ${output}`)));
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { address, pid: child.pid!, stop };
}

/** The bundled CLI: its path, the Node arguments that run it with `args`, and a cleanup. */
export interface BundledCli {
  path: string;
  args(...args: string[]): string[];
  remove(): void;
}

/** The CLI bundled for Node the way it would ship, run with the Node flags it ships with. */
export async function bundleCli(): Promise<BundledCli> {
  const { build } = await import('vite');
  // Inside node_modules so the one external (sqlite-wasm, which loads its .wasm next to itself) resolves.
  const outDir = join(ROOT, 'node_modules', '.cache', `lifeboat-bench-cli-${process.pid}`);
  await build({
    root: ROOT,
    configFile: false,
    logLevel: 'warn',
    publicDir: false,
    ssr: { noExternal: true, external: ['@sqlite.org/sqlite-wasm'] },
    build: {
      ssr: 'src/cli/main.ts',
      outDir,
      emptyOutDir: true,
      target: 'node20',
      minify: false,
      // .mjs chunks: pairing's X.509 code is a lazily imported chunk, and no package.json here says ESM.
      rollupOptions: { output: { format: 'es', entryFileNames: 'cli.mjs', chunkFileNames: '[name]-[hash].mjs' } },
    },
  });
  // The real path: the CLI runs only when argv[1] is its own URL, and node_modules may be a symlink (a git worktree).
  const path = realpathSync(join(outDir, 'cli.mjs'));
  return { path, args: (...args) => [...CLI_NODE_FLAGS, path, ...args], remove: () => rmSync(outDir, { recursive: true, force: true }) };
}

const quiet = { out: () => undefined, err: () => undefined };

/**
 * Entries 1 and 2: runs alternate between the two clients, so the shared machine's load hits both alike.
 * Each run's folder is deleted only after all runs: on ext4 without a journal, creating files right
 * after thousands were deleted scans past the recently freed inodes (recently_deleted()), which
 * made whichever client ran after an `rm -rf` pay for the other's cleanup.
 */
async function cliAndIdevicebackup2(dataset: 'medium' | 'large' = 'medium', runs = RUNS): Promise<BenchResult[]> {
  const cli = await bundleCli();
  const iphone = await startVirtualIPhone(dataset);
  const env = { USBMUXD_SOCKET_ADDRESS: iphone.address };
  const filesPerSecond: number[] = [];
  const mbPerSecond: number[] = [];
  const ours: number[] = [];
  const theirs: number[] = [];
  const ourCpu: number[] = [];
  const theirCpu: number[] = [];
  const ourRss: number[] = [];
  const theirRss: number[] = [];
  const runDirs: string[] = [];
  try {
    if ((await runCli(['pair'], quiet, env)) !== 0) throw new Error('our CLI could not pair with the virtual iPhone');
    const paired = await exec('/usr/bin/idevicepair', ['pair'], env);
    if (paired.code !== 0) throw new Error(`idevicepair failed: ${paired.out}`);
    for (let i = 0; i < runs; i++) {
      const ourDir = mkdtempSync(join(tmpdir(), 'lifeboat-bench-ours-'));
      const theirDir = mkdtempSync(join(tmpdir(), 'lifeboat-bench-theirs-'));
      runDirs.push(ourDir, theirDir);
      const settledForUs = settleDisk();
      const a = await exec(process.execPath, cli.args('backup', ourDir, '--full'), env, { measureCpu: true });
      const done = /Backup complete: (\d+) files, ([\d.]+) MB in ([\d.]+) s/.exec(a.out);
      if (a.code !== 0 || !done) throw new Error(`our CLI backup failed: ${a.out.slice(-2000)}`);
      const seconds = Number(done[3]);
      filesPerSecond.push(Number(done[1]) / seconds);
      mbPerSecond.push(Number(done[2]) / seconds);
      ours.push(a.seconds);
      const settledForThem = settleDisk();
      const b = await exec(IDEVICEBACKUP2, ['backup', '--full', theirDir], env, { measureCpu: true });
      if (b.code !== 0 || !/Backup Successful/.test(b.out)) throw new Error(`idevicebackup2 failed: ${b.out.slice(-2000)}`);
      theirs.push(b.seconds);
      if (a.cpuSeconds !== null && b.cpuSeconds !== null) {
        ourCpu.push(a.cpuSeconds);
        theirCpu.push(b.cpuSeconds);
      }
      if (a.maxRssBytes !== null && b.maxRssBytes !== null) {
        ourRss.push(a.maxRssBytes);
        theirRss.push(b.maxRssBytes);
      }
      const cpu = (x: Exec): string => (x.cpuSeconds === null ? '' : `, CPU ${x.cpuSeconds.toFixed(2)} s`);
      console.log(
        `  ${dataset} via usbmuxd, run ${i + 1}: ours ${a.seconds.toFixed(1)} s (backup ${seconds.toFixed(1)} s, ${done[1]} files${cpu(a)}), idevicebackup2 ${b.seconds.toFixed(1)} s${cpu(b)}`,
      );
      console.log(`  ${dataset}, run ${i + 1}, before ours: ${settledForUs}; before idevicebackup2: ${settledForThem}`);
    }
  } finally {
    for (const dir of runDirs) rmSync(dir, { recursive: true, force: true });
    await iphone.stop();
    cli.remove();
  }
  const ratios = ours.map((t, i) => t / theirs[i]!);
  if (dataset === 'large') {
    // Issue 13's targets for the large dataset: CPU ≤ 1.2× idevicebackup2's, peak RSS ≤ 100 MB.
    const results: BenchResult[] = [{ name: 'backup large wall time, our CLI / idevicebackup2 (same virtual iPhone)', value: median(ratios), unit: '×', target: 1, better: 'lower' }];
    if (ourCpu.length > 0) {
      console.log(`  large CPU seconds (user+sys), median: ours ${median(ourCpu).toFixed(2)}, idevicebackup2 ${median(theirCpu).toFixed(2)}`);
      results.push({ name: 'backup large CPU time (user+sys), our CLI / idevicebackup2 (same virtual iPhone)', value: median(ourCpu.map((c, i) => c / theirCpu[i]!)), unit: '×', target: 1.2, better: 'lower' });
    }
    if (ourRss.length > 0) {
      console.log(`  large peak RSS, median: ours ${(median(ourRss) / 1e6).toFixed(0)} MB, idevicebackup2 ${(median(theirRss) / 1e6).toFixed(0)} MB`);
      results.push({ name: 'backup large peak RSS of our CLI process', value: median(ourRss) / 1e6, unit: 'MB', target: 100, better: 'lower' });
    }
    return results;
  }
  const results: BenchResult[] = [
    { name: 'backup medium via usbmuxd+lockdown (CLI) files/s into NodeFsBackupStore', value: median(filesPerSecond), unit: 'files/s', target: 1000, better: 'higher' },
    { name: 'backup medium via usbmuxd+lockdown (CLI) MB/s into NodeFsBackupStore', value: median(mbPerSecond), unit: 'MB/s', target: 30, better: 'higher' },
    { name: 'backup medium wall time, our CLI / idevicebackup2 (same virtual iPhone)', value: median(ratios), unit: '×', target: 1, better: 'lower' },
  ];
  if (ourCpu.length > 0) {
    console.log(`  CPU seconds (user+sys), median: ours ${median(ourCpu).toFixed(2)}, idevicebackup2 ${median(theirCpu).toFixed(2)}`);
    results.push({
      name: 'backup medium CPU time (user+sys), our CLI / idevicebackup2 (same virtual iPhone)',
      value: median(ourCpu.map((c, i) => c / theirCpu[i]!)),
      unit: '×',
      target: 1,
      better: 'lower',
    });
  }
  return results;
}

/** Entry 3. */
async function opfs(): Promise<BenchResult[]> {
  const session = await openOpfsBench();
  try {
    const large = await session.run('large-files', RUNS);
    const mbps = large.runs.map((r) => r.bytes / 1e6 / r.seconds);
    console.log(`  OPFS ${LARGE_FILES.count} × ${LARGE_FILES.size >> 20} MiB runs (MB/s): ${mbps.map((v) => v.toFixed(0)).join(', ')}`);
    const small = await session.run('small-files', SMALL_FILE_RUNS);
    const fps = small.runs.map((r) => r.files / r.seconds);
    console.log(`  OPFS ${SMALL_FILES.count} small files runs (files/s): ${fps.map((v) => v.toFixed(0)).join(', ')}`);
    // The app's demo layout: the virtual iPhone in a worker of its own, reached over USB-over-MessagePort,
    // mux and lockdown; the host worker then pays only for the host (but also for that longer path).
    const twoWorkers = await session.run('small-files', SMALL_FILE_RUNS, 'layout=two-workers');
    const twoWorkersFps = twoWorkers.runs.map((r) => r.files / r.seconds);
    console.log(`  OPFS ${SMALL_FILES.count} small files, device in its own worker (USB, mux, lockdown) runs (files/s): ${twoWorkersFps.map((v) => v.toFixed(0)).join(', ')}`);
    const folder = await session.run('small-files', RUNS, 'store=folder');
    const folderFps = folder.runs.map((r) => r.files / r.seconds);
    console.log(`  folder store (createWritable) ${SMALL_FILES.count} small files runs (files/s): ${folderFps.map((v) => v.toFixed(0)).join(', ')}`);
    return [
      {
        name: `backup into the folder store (createWritable per file, measured on an OPFS folder), ${SMALL_FILES.count} small files files/s`,
        value: median(folderFps),
        unit: 'files/s',
        target: 5000,
        better: 'higher',
      },
      { name: `backup into OPFS (Chromium worker, sync access handles), ${LARGE_FILES.count} × 256 MiB files MB/s`, value: median(mbps), unit: 'MB/s', target: 400, better: 'higher' },
      { name: `backup into OPFS (Chromium worker, sync access handles), ${SMALL_FILES.count} small files files/s`, value: median(fps), unit: 'files/s', target: 5000, better: 'higher' },
      {
        name: `backup into OPFS, ${SMALL_FILES.count} small files, virtual iPhone in its own worker over USB+mux+lockdown (demo-mode layout) files/s`,
        value: median(twoWorkersFps),
        unit: 'files/s',
        target: 5000,
        better: 'higher',
      },
    ];
  } finally {
    await session.close();
  }
}

/** Entry 4: one run (it takes minutes); the host runs in this process, the device in its own. */
async function largeBackupHeap(): Promise<BenchResult[]> {
  if (process.env.BENCH_BACKUP_SKIP_LARGE) {
    console.log('  large (4 GB) backup skipped: BENCH_BACKUP_SKIP_LARGE is set');
    return [];
  }
  const st = statfsSync(tmpdir());
  const free = Number(st.bavail) * Number(st.bsize);
  if (free < 10 * 1024 ** 3) {
    console.log(`  large (4 GB) backup skipped: only ${(free / 1024 ** 3).toFixed(1)} GB free in ${tmpdir()} (needs 10 GB)`);
    return [];
  }
  const iphone = await startVirtualIPhone('large');
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-bench-large-'));
  const env = { USBMUXD_SOCKET_ADDRESS: iphone.address };
  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  };
  const sampler = setInterval(sample, 100);
  try {
    if ((await runCli(['pair'], quiet, env)) !== 0) throw new Error('our CLI could not pair with the virtual iPhone');
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    peak = before;
    const started = performance.now();
    let out = '';
    const code = await runCli(['backup', dir, '--full'], { out: (t) => (out += t), err: () => undefined }, env);
    sample();
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`large backup failed: ${out}`);
    console.log(`  large backup: ${out.trim()} — wall ${seconds.toFixed(0)} s; heap before ${(before / 1e6).toFixed(0)} MB, peak ${(peak / 1e6).toFixed(0)} MB`);
  } finally {
    clearInterval(sampler);
    await iphone.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return [{ name: 'backup large (4 GB, one 2 GB file) peak JS heap of the host', value: peak / 1e6, unit: 'MB', target: 200, better: 'lower' }];
}

export default async function backupBench(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const only = process.env.BENCH_BACKUP_SECTIONS?.split(',');
  for (const [key, label, section] of [
    // The heap run goes first, before Vite and Playwright are loaded into this process.
    ['large', 'large backup heap', largeBackupHeap],
    ['cli', 'Node CLI vs idevicebackup2', () => cliAndIdevicebackup2('medium')],
    // One run each (≈1 min per run on a quiet machine, 4.2 GB written twice).
    ['cli-large', 'Node CLI vs idevicebackup2 on large', () => cliAndIdevicebackup2('large', 1)],
    ['opfs', 'OPFS in Chromium', opfs],
  ] as const) {
    if (only && !only.includes(key)) continue;
    try {
      results.push(...(await section()));
    } catch (error) {
      console.error(`  ${label} failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
  }
  return results;
}
