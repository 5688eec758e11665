import { parentPort, workerData } from 'node:worker_threads';
import { runCampaign } from './campaign.ts';
import { targetByName } from './targets/index.ts';

/**
 * Runs one parser's campaign in a worker so the runner can stop a hang (terminate interrupts even a
 * synchronous endless loop) and see a memory blow-up as the worker's death, not its own.
 * Before each execution the input is copied into shared memory, where the runner finds it then.
 */
export interface WorkerInput {
  parser: string;
  executions: number;
  seed: number;
  /** [0] = executions done (Int32), [1] = input length, [2] = 1 when the input was cut; bytes from offset 12. */
  shared: SharedArrayBuffer;
}

export type WorkerMessage =
  | { type: 'finding'; kind: string; signature: string; message: string; ms: number; input: Uint8Array }
  | { type: 'done'; result: import('./campaign.ts').CampaignResult; slowestInput: Uint8Array | undefined };

const data = workerData as WorkerInput;
// Parsers under fuzz log what they reject (SQLite WASM prints every SQLITE_CORRUPT): millions of lines.
for (const method of ['log', 'warn', 'error', 'debug', 'info'] as const) console[method] = () => {};
const header = new Int32Array(data.shared, 0, 3);
const inputBytes = new Uint8Array(data.shared, 12);
const port = parentPort!;

const target = targetByName(data.parser);
let executions = 0;
const { result, slowestInput } = await runCampaign(target, {
  executions: data.executions,
  seed: data.seed,
  beforeRun(input) {
    const n = Math.min(input.length, inputBytes.length);
    inputBytes.set(input.subarray(0, n));
    header[1] = n;
    header[2] = n < input.length ? 1 : 0;
    Atomics.store(header, 0, ++executions);
  },
  onFinding(f) {
    port.postMessage({ type: 'finding', kind: f.kind, signature: f.signature, message: f.message, ms: f.ms, input: f.input } satisfies WorkerMessage);
  },
});
port.postMessage({ type: 'done', result, slowestInput } satisfies WorkerMessage);
