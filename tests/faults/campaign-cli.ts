// `npm run faults [-- --points N --seed S --op OP --fault KIND --jobs J]`: the fault campaign and its table.
// Without --op, each operation runs in its own child process, J at a time (default 2).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FAULT_KINDS, type FaultKind } from './fault-injection.ts';
import { formatTable, OPERATIONS, runCampaign, type CampaignRow, type Operation, type PointResult } from './campaign.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const points = Number(flag('points') ?? 100);
const seed = Number(flag('seed') ?? 1);
const jobs = Number(flag('jobs') ?? 2);
const op = flag('op') as Operation | undefined;
const fault = flag('fault') as FaultKind | undefined;
const childOutput = flag('child-output');
if (op && !OPERATIONS.includes(op)) throw new Error(`--op is one of ${OPERATIONS.join(', ')}`);
if (fault && !FAULT_KINDS.includes(fault)) throw new Error(`--fault is one of ${FAULT_KINDS.join(', ')}`);

interface Outcome {
  rows: CampaignRow[];
  failures: PointResult[];
}

function report(r: PointResult): void {
  if (r.problem || r.filesLost > 0) console.log(`FAILED ${r.op} ${r.fault} point ${r.point}: ${r.problem ?? ''} (${r.outcome})`);
}

async function inProcess(ops: readonly Operation[]): Promise<Outcome> {
  let done = 0;
  const { rows, results } = await runCampaign({
    points,
    seed,
    ops,
    ...(fault ? { faults: [fault] } : {}),
    onPoint: (r) => {
      report(r);
      if (++done % 25 === 0) console.log(`${ops.join(',')}: ${done} points…`);
    },
  });
  return { rows, failures: results.filter((r) => r.problem || r.filesLost > 0) };
}

/** One child process per operation: the campaign is CPU-bound and the operations are independent. */
async function inChildren(ops: readonly Operation[]): Promise<Outcome> {
  const script = fileURLToPath(import.meta.url);
  const outcomes = new Map<Operation, Outcome>();
  const queue = [...ops];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const out = `${script}.${next}.${process.pid}.json`;
      const args = ['--import', 'tsx', script, '--op', next, '--points', String(points), '--seed', String(seed), '--child-output', out, ...(fault ? ['--fault', fault] : [])];
      const code = await new Promise<number>((resolve) => spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] }).on('close', (c) => resolve(c ?? 1)));
      const { readFileSync, rmSync } = await import('node:fs');
      try {
        outcomes.set(next, JSON.parse(readFileSync(out, 'utf8')) as Outcome);
        rmSync(out);
      } catch {
        throw new Error(`the campaign for ${next} crashed (exit ${code})`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  const ordered = ops.map((o) => outcomes.get(o)!);
  return { rows: ordered.flatMap((o) => o.rows), failures: ordered.flatMap((o) => o.failures) };
}

const started = Date.now();
const ops = op ? [op] : OPERATIONS;
const outcome = op || jobs <= 1 ? await inProcess(ops) : await inChildren(ops);
if (childOutput) {
  writeFileSync(childOutput, JSON.stringify(outcome));
  process.exit(0);
}
const { rows } = outcome;
console.log(`\nFault campaign, seed ${seed}, ${points} points per operation and fault, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
console.log(formatTable(rows));
writeFileSync('fault-results.json', JSON.stringify({ seed, points, rows, failures: outcome.failures }, null, 2));
const failed = rows.reduce((n, r) => n + (r.tried - r.survived), 0);
const lost = rows.reduce((n, r) => n + r.filesLost, 0);
console.log(`\n${rows.reduce((n, r) => n + r.survived, 0)} passed, ${failed} failed (files lost: ${lost})`);
process.exit(failed === 0 && lost === 0 ? 0 : 1);
