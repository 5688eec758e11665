/**
 * `npm run fuzz` — every parser of untrusted bytes under a seeded, structure-aware mutation fuzzer.
 *
 *   npm run fuzz                      ≥ 1,000,000 executions per parser
 *   npm run fuzz -- --quick           ≈ 10,000 per parser (part of npm test)
 *   npm run fuzz -- --only=plist-xml,zip --executions=50000 --seed=7
 *
 * Writes fuzz-results.json ([{parser, executions, findings, slowest_ms}]) and, per finding, the
 * input under fuzz-findings/<parser>/ (move it to tests/fuzz/regressions/<parser>/ once fixed).
 * Exits 1 when anything was found.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CampaignResult } from './campaign.ts';
import { TARGET_NAMES, targetByName } from './targets/index.ts';
import { SHARED_HEADER_BYTES, type WorkerInput, type WorkerJob, type WorkerMessage } from './worker-protocol.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const FULL_EXECUTIONS = 1_000_000;
const QUICK_EXECUTIONS = 10_000;
/** No execution finished for this long: a hang (far beyond the 1 s finding threshold). */
const DEFAULT_HANG_MS = 20_000;
/** Loading a worker and building its seeds (generated backups, TLS transcripts) on a busy machine. */
const STARTUP_MS = 180_000;
const SHARED_INPUT_BYTES = 8 * 1024 * 1024;

interface Args {
  quick: boolean;
  only: string[] | undefined;
  executions: number | undefined;
  seed: number;
  jobs: number;
  out: string;
  findings: string;
  hangMs: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: undefined, executions: undefined, seed: 1, jobs: 1, out: join(root, 'fuzz-results.json'), findings: join(root, 'fuzz-findings'), hangMs: DEFAULT_HANG_MS };
  for (const a of argv) {
    const [key, value] = a.split('=', 2) as [string, string | undefined];
    if (key === '--quick') args.quick = true;
    else if (key === '--only' && value) args.only = value.split(',');
    else if (key === '--executions' && value) args.executions = Number(value);
    else if (key === '--seed' && value) args.seed = Number(value);
    else if (key === '--jobs' && value) args.jobs = Math.max(1, Number(value));
    else if (key === '--out' && value) args.out = value;
    else if (key === '--hang-ms' && value) args.hangMs = Number(value);
    else if (key === '--findings' && value) args.findings = value;
    else throw new Error(`unknown argument ${a} (use --quick, --only=a,b, --executions=N, --seed=N, --jobs=N, --out=FILE, --findings=DIR, --hang-ms=N)`);
  }
  for (const name of args.only ?? []) if (!isTarget(name)) throw new Error(`no parser named ${name}; there are: ${TARGET_NAMES.join(', ')}`);
  return args;
}

interface ParserReport {
  result: CampaignResult;
  findings: { kind: string; signature: string; message: string; file: string }[];
}

function saveFinding(parser: string, kind: string, signature: string, message: string, input: Uint8Array): string {
  const dir = join(args.findings, parser);
  mkdirSync(dir, { recursive: true });
  const id = createHash('sha1').update(input).digest('hex').slice(0, 12);
  const file = join(dir, `${kind}-${id}.bin`);
  writeFileSync(file, input);
  writeFileSync(`${file}.txt`, `${signature}\n\n${message}\n`);
  return file;
}

function isTarget(name: string): boolean {
  try {
    targetByName(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `jobs` in one worker; when a parser hangs or kills its worker, that parser's run ends with
 * the finding and a fresh worker takes the parsers after it.
 */
function runJobs(jobs: WorkerJob[], seed: number, hangMs: number, onReport: (report: ParserReport) => void): Promise<void> {
  return new Promise((resolve) => {
    const shared = new SharedArrayBuffer(SHARED_HEADER_BYTES + SHARED_INPUT_BYTES);
    const header = new Int32Array(shared, 0, 4);
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
      workerData: { jobs, seed, shared } satisfies WorkerInput,
      // A parser that allocates without bound kills the worker (reported), not the runner.
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
    });
    const findings = new Map<string, ParserReport['findings']>(jobs.map((j) => [j.parser, []]));
    let completed = 0;
    let ended = false;
    let last = '';
    let lastChange = performance.now();
    let jobStarted = performance.now();

    const end = (): void => {
      ended = true;
      clearInterval(watchdog);
      void worker.terminate();
    };
    const abandon = (kind: string, message: string): void => {
      if (ended) return;
      end();
      const index = Atomics.load(header, 3);
      const job = jobs[index]!;
      const input = new Uint8Array(shared, SHARED_HEADER_BYTES, header[1]!).slice();
      const file = saveFinding(job.parser, kind, `${kind} ${message}`, message, input);
      const own = findings.get(job.parser)!;
      own.push({ kind, signature: `${kind} ${message}`, message, file });
      const executions = Atomics.load(header, 0);
      const seconds = Math.round((performance.now() - jobStarted) / 100) / 10;
      onReport({ result: { parser: job.parser, executions, findings: own.length, slowest_ms: Math.round(performance.now() - lastChange), outcomes: 0, corpus: 0, seconds }, findings: own });
      const rest = jobs.slice(index + 1);
      if (rest.length > 0) void runJobs(rest, seed, hangMs, onReport).then(resolve);
      else resolve();
    };

    const watchdog = setInterval(() => {
      const count = Atomics.load(header, 0);
      const now = `${Atomics.load(header, 3)}:${count}`;
      if (now !== last) {
        last = now;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > (count === 0 ? STARTUP_MS : hangMs)) {
        abandon('hang', count === 0 ? `the parser did not start within ${STARTUP_MS / 1000} s` : `no execution finished in ${hangMs / 1000} s`);
      }
    }, 500);

    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'finding') {
        const file = saveFinding(m.parser, m.kind, m.signature, m.message, m.input);
        findings.get(m.parser)!.push({ kind: m.kind, signature: m.signature, message: m.message, file });
        return;
      }
      // The slowest input is kept beside the findings, to look at when slowest_ms creeps up.
      if (m.slowestInput) {
        mkdirSync(join(args.findings, m.parser), { recursive: true });
        writeFileSync(join(args.findings, m.parser, 'slowest.bin'), m.slowestInput);
      }
      const own = findings.get(m.parser)!;
      onReport({ result: { ...m.result, findings: own.length }, findings: own });
      jobStarted = performance.now();
      if (++completed === jobs.length) {
        end();
        resolve();
      }
    });
    worker.on('error', (error: Error & { code?: string }) => {
      const memory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      abandon(memory ? 'memory' : 'error', memory ? 'the worker ran out of memory' : `the worker died: ${error.stack ?? error.message}`);
    });
    worker.on('exit', () => {
      if (!ended) abandon('error', 'the worker exited before finishing');
    });
  });
}

const args = parseArgs(process.argv.slice(2));
const names = args.only ?? TARGET_NAMES;
const mode = args.quick ? 'quick' : 'full';
console.log(`fuzz (${mode}): ${names.length} parsers, seed ${args.seed}`);
const reports: ParserReport[] = [];
function writeResults(): { parser: string; executions: number; findings: number; slowest_ms: number }[] {
  const sorted = [...reports].sort((a, b) => names.indexOf(a.result.parser) - names.indexOf(b.result.parser));
  const results = sorted.map(({ result: r }) => ({ parser: r.parser, executions: r.executions, findings: r.findings, slowest_ms: r.slowest_ms }));
  writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
  return results;
}
const jobs: WorkerJob[] = names.map((name) => ({
  parser: name,
  executions: args.executions ?? (args.quick ? (targetByName(name).quickExecutions ?? QUICK_EXECUTIONS) : FULL_EXECUTIONS),
}));
const lanes = Array.from({ length: Math.min(args.jobs, jobs.length) }, (_, lane) => jobs.filter((_, i) => i % args.jobs === lane));
await Promise.all(
  lanes.map((lane) =>
    runJobs(lane, args.seed, args.hangMs, (report) => {
      reports.push(report);
      const r = report.result;
      console.log(
        `${r.parser.padEnd(22)} ${String(r.executions).padStart(8)} execs  ${String(r.findings).padStart(2)} findings  slowest ${r.slowest_ms} ms  ` +
          `${r.outcomes} outcomes  ${r.seconds} s  (${Math.round(r.executions / Math.max(0.1, r.seconds))}/s)`,
      );
      for (const f of report.findings) console.log(`  ${f.kind}: ${f.signature.slice(0, 200)}\n    → ${f.file}`);
      // Written after every parser, so a long full run that is stopped still leaves its figures.
      writeResults();
    }),
  ),
);
const results = writeResults();
const total = results.reduce((n, r) => n + r.findings, 0);
console.log(`${total} findings; results in ${args.out}`);
process.exit(total === 0 ? 0 : 1);
