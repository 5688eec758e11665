import { getHeapStatistics } from 'node:v8';
import { mutate } from './mutate.ts';
import { Rng } from './rng.ts';
import { type FuzzTarget, isExpectedError } from './target.ts';

/** Issue #10: a single case over 1 s is a finding. */
export const SLOW_MS = 1000;
/** More than this allocated by one execution (JS heap + ArrayBuffers) is a finding. */
export const MEMORY_LIMIT_BYTES = 256 * 1024 * 1024;
const DEFAULT_MAX_INPUT = 64 * 1024;
/** A new slowest case above this is run again before it counts. */
const RETIME_ABOVE_MS = 20;
/** Inputs that reached a new outcome are kept to mutate further; this bounds the corpus. */
const MAX_CORPUS = 4096;

export type FindingKind = 'error' | 'slow' | 'memory' | 'hang';

export interface Finding {
  parser: string;
  kind: FindingKind;
  /** Stable identity for de-duplication: kind, error class, message shape and the throwing frame. */
  signature: string;
  message: string;
  ms: number;
  input: Uint8Array;
}

export type Outcome =
  | { kind: 'accepted'; ms: number; bytes: number; shape: string }
  | { kind: 'rejected'; ms: number; bytes: number; shape: string }
  | { kind: 'finding'; ms: number; bytes: number; finding: Omit<Finding, 'parser' | 'input'> };

function allocated(): number {
  const s = getHeapStatistics();
  return s.used_heap_size + s.external_memory;
}

/** The message with numbers blanked, so "offset 17" and "offset 18" are one outcome. */
function shapeOf(error: unknown): string {
  const name = error instanceof Error ? error.constructor.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  // Quoted input ("…", “…”) and numbers vary with every input; the message's shape does not.
  const shape = message.replace(/"[^"]*"|“[^”]*”|'[^']*'/g, '…').replace(/0x[0-9a-f]+|\d+/gi, '#');
  return `${name}: ${shape.slice(0, 120)}`;
}

function throwingFrame(error: unknown): string {
  if (!(error instanceof Error) || !error.stack) return '';
  const frame = error.stack.split('\n').find((line) => /^\s+at /.test(line) && !line.includes('node:internal'));
  return frame ? frame.trim().replace(/^at /, '').replace(/\(.*\/(src|fuzz|node_modules)\//, '($1/') : '';
}

/** Runs one input and classifies what happened. */
export async function runOne(target: FuzzTarget, input: Uint8Array): Promise<Outcome> {
  const before = allocated();
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  let error: unknown;
  let failed = false;
  let accepted: string | void = undefined;
  try {
    accepted = await target.run(input);
  } catch (e) {
    error = e;
    failed = true;
  }
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const bytes = allocated() - before;
  if (failed && !isExpectedError(target, error)) {
    const shape = shapeOf(error);
    return { kind: 'finding', ms, bytes, finding: { kind: 'error', signature: `error ${shape} @ ${throwingFrame(error)}`, message: error instanceof Error ? (error.stack ?? error.message) : String(error), ms } };
  }
  if (bytes > MEMORY_LIMIT_BYTES) {
    const mib = Math.round(bytes / 1048576);
    return { kind: 'finding', ms, bytes, finding: { kind: 'memory', signature: `memory ${failed ? shapeOf(error) : 'accepted'}`, message: `one input allocated ${mib} MiB`, ms } };
  }
  // Over 1 s of wall time, and either working for half of it or waiting far longer: a machine shared
  // by many processes can stretch a 100 ms case past a second, but not its CPU time.
  if (ms > SLOW_MS && (cpuMs > SLOW_MS / 2 || ms > 5 * SLOW_MS)) {
    return { kind: 'finding', ms, bytes, finding: { kind: 'slow', signature: `slow ${failed ? shapeOf(error) : 'accepted'}`, message: `one input took ${Math.round(ms)} ms`, ms } };
  }
  return failed ? { kind: 'rejected', ms, bytes, shape: shapeOf(error) } : { kind: 'accepted', ms, bytes, shape: `accepted ${accepted ?? ''}` };
}

/**
 * runOne, but a slow or memory finding must reproduce before it counts: a shared machine stalls now
 * and then, and the first input through a target also pays its cold start. `beforeRun` sees each run.
 */
export async function runOneConfirmed(target: FuzzTarget, input: Uint8Array, beforeRun?: (input: Uint8Array) => void): Promise<Outcome> {
  beforeRun?.(input);
  const outcome = await runOne(target, input);
  if (outcome.kind !== 'finding' || outcome.finding.kind === 'error') return outcome;
  beforeRun?.(input);
  const again = await runOne(target, input);
  return again.kind === 'finding' ? outcome : again;
}

export interface CampaignOptions {
  executions: number;
  seed: number;
  /** Called with each input just before it runs (the watchdog keeps it in case the run never returns). */
  beforeRun?(input: Uint8Array): void;
  onProgress?(executions: number): void;
  onFinding?(finding: Finding): void;
}

export interface CampaignResult {
  parser: string;
  executions: number;
  findings: number;
  slowest_ms: number;
  /** Distinct outcomes seen (accepted or each rejection message shape): a rough depth measure. */
  outcomes: number;
  corpus: number;
  seconds: number;
}

/**
 * Seeds first, then mutations of the corpus (and, when the target has one, fresh structure-aware
 * inputs). An input whose outcome was never seen before joins the corpus: a crude stand-in for
 * coverage feedback that pulls the search past the first check a parser makes.
 */
export async function runCampaign(
  target: FuzzTarget,
  options: CampaignOptions,
): Promise<{ result: CampaignResult; findings: Finding[]; slowestInput: Uint8Array | undefined }> {
  const rng = new Rng(options.seed);
  const maxInput = target.maxInput ?? DEFAULT_MAX_INPUT;
  // Seeds stay whole even when larger than maxInput; only their mutations are cut to it.
  const corpus: Uint8Array[] = await target.seeds();
  if (corpus.length === 0) corpus.push(new Uint8Array(0));
  const seen = new Set<string>();
  const findings = new Map<string, Finding>();
  let slowest = 0;
  let slowestInput: Uint8Array | undefined;
  let executions = 0;
  const start = performance.now();

  const execute = async (input: Uint8Array): Promise<void> => {
    const outcome = await runOneConfirmed(target, input, options.beforeRun);
    executions++;
    if (outcome.ms > slowest) {
      // A record is timed twice, the faster counting: a pause of the machine is not the parser's.
      let ms = outcome.ms;
      if (ms > RETIME_ABOVE_MS) {
        options.beforeRun?.(input);
        ms = Math.min(ms, (await runOne(target, input)).ms);
      }
      if (ms > slowest) {
        slowest = ms;
        slowestInput = input;
      }
    }
    if (outcome.kind === 'finding') {
      if (!findings.has(outcome.finding.signature)) {
        const finding: Finding = { parser: target.name, input: input.slice(), ...outcome.finding };
        findings.set(finding.signature, finding);
        options.onFinding?.(finding);
      }
      return;
    }
    if (!seen.has(outcome.shape)) {
      seen.add(outcome.shape);
      if (corpus.length < MAX_CORPUS) corpus.push(input);
    }
    if (executions % 1000 === 0) options.onProgress?.(executions);
  };

  for (const seed of corpus.slice()) {
    if (executions >= options.executions) break;
    await execute(seed);
  }
  while (executions < options.executions) {
    let input: Uint8Array;
    if (target.generate && rng.chance(0.15)) {
      input = target.generate(rng);
    } else {
      const base = corpus[rng.below(corpus.length)]!;
      input = mutate(base, rng, corpus[rng.below(corpus.length)], maxInput);
      if (target.fixUp && rng.chance(0.5)) input = target.fixUp(input, rng);
    }
    await execute(input);
  }
  const result: CampaignResult = {
    parser: target.name,
    executions,
    findings: findings.size,
    slowest_ms: Math.round(slowest * 10) / 10,
    outcomes: seen.size,
    corpus: corpus.length,
    seconds: Math.round((performance.now() - start) / 100) / 10,
  };
  return { result, findings: [...findings.values()], slowestInput };
}
