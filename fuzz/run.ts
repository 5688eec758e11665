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
import type { WorkerInput, WorkerMessage } from './worker.ts';

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

function runParser(parser: string, executions: number, seed: number, hangMs: number): Promise<ParserReport> {
  return new Promise((resolve) => {
    const shared = new SharedArrayBuffer(12 + SHARED_INPUT_BYTES);
    const header = new Int32Array(shared, 0, 3);
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), {
      workerData: { parser, executions, seed, shared } satisfies WorkerInput,
      // A parser that allocates without bound kills the worker (reported), not the runner.
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
    });
    const findings: ParserReport['findings'] = [];
    let finished = false;
    let lastCount = -1;
    let lastChange = performance.now();
    const started = performance.now();

    const currentInput = (): Uint8Array => new Uint8Array(shared, 12, header[1]!).slice();
    const finish = (result: CampaignResult): void => {
      if (finished) return;
      finished = true;
      clearInterval(watchdog);
      void worker.terminate();
      resolve({ result: { ...result, findings: findings.length }, findings });
    };
    const abandon = (kind: string, message: string): void => {
      const input = currentInput();
      const file = saveFinding(parser, kind, `${kind} ${message}`, message, input);
      findings.push({ kind, signature: `${kind} ${message}`, message, file });
      const done = Atomics.load(header, 0);
      finish({ parser, executions: done, findings: 0, slowest_ms: Math.round(performance.now() - lastChange), outcomes: 0, corpus: 0, seconds: Math.round((performance.now() - started) / 100) / 10 });
    };

    const watchdog = setInterval(() => {
      const count = Atomics.load(header, 0);
      if (count !== lastCount) {
        lastCount = count;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > (count === 0 ? STARTUP_MS : hangMs)) {
        void worker.terminate();
        abandon('hang', count === 0 ? `the worker did not start within ${STARTUP_MS / 1000} s` : `no execution finished in ${hangMs / 1000} s`);
      }
    }, 500);

    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'finding') {
        const file = saveFinding(parser, m.kind, m.signature, m.message, m.input);
        findings.push({ kind: m.kind, signature: m.signature, message: m.message, file });
      } else {
        // The slowest input is kept beside the findings, to look at when slowest_ms creeps up.
        if (m.slowestInput) {
          mkdirSync(join(args.findings, parser), { recursive: true });
          writeFileSync(join(args.findings, parser, 'slowest.bin'), m.slowestInput);
        }
        finish(m.result);
      }
    });
    worker.on('error', (error: Error & { code?: string }) => {
      const memory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      abandon(memory ? 'memory' : 'error', memory ? 'the worker ran out of memory' : `the worker died: ${error.stack ?? error.message}`);
    });
    worker.on('exit', () => {
      if (!finished) abandon('error', 'the worker exited before finishing');
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
const queue = [...names];
await Promise.all(
  Array.from({ length: Math.min(args.jobs, names.length) }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const target = targetByName(name);
      const executions = args.executions ?? (args.quick ? (target.quickExecutions ?? QUICK_EXECUTIONS) : FULL_EXECUTIONS);
      const report = await runParser(name, executions, args.seed, args.hangMs);
      reports.push(report);
      const r = report.result;
      console.log(
        `${r.parser.padEnd(22)} ${String(r.executions).padStart(8)} execs  ${String(r.findings).padStart(2)} findings  slowest ${r.slowest_ms} ms  ` +
          `${r.outcomes} outcomes  ${r.seconds} s  (${Math.round(r.executions / Math.max(0.1, r.seconds))}/s)`,
      );
      for (const f of report.findings) console.log(`  ${f.kind}: ${f.signature.slice(0, 200)}\n    → ${f.file}`);
      // Written after every parser, so a long full run that is stopped still leaves its figures.
      writeResults();
    }
  }),
);
const results = writeResults();
const total = results.reduce((n, r) => n + r.findings, 0);
console.log(`${total} findings; results in ${args.out}`);
process.exit(total === 0 ? 0 : 1);
