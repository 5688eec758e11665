import { parentPort, workerData } from 'node:worker_threads';
import { runCampaign } from './campaign.ts';
import { SHARED_HEADER_BYTES, type WorkerInput, type WorkerMessage } from './worker-protocol.ts';
import { targetByName } from './targets/index.ts';

/**
 * Runs parsers' campaigns one after another in a worker, so the runner can stop a hang (terminate
 * interrupts even a synchronous endless loop) and see a memory blow-up as the worker's death, not
 * its own; one worker serves many parsers because loading the code is most of a short run's cost.
 * Before each execution the input is copied into shared memory, where the runner finds it then.
 */
const data = workerData as WorkerInput;
// Parsers under fuzz log what they reject (SQLite WASM prints every SQLITE_CORRUPT): millions of lines.
for (const method of ['log', 'warn', 'error', 'debug', 'info'] as const) console[method] = () => {};
const header = new Int32Array(data.shared, 0, 4);
const inputBytes = new Uint8Array(data.shared, SHARED_HEADER_BYTES);
const port = parentPort!;

for (let index = 0; index < data.jobs.length; index++) {
  const { parser, executions: wanted } = data.jobs[index]!;
  let executions = 0;
  Atomics.store(header, 0, 0);
  Atomics.store(header, 3, index);
  const { result, slowestInput } = await runCampaign(targetByName(parser), {
    executions: wanted,
    seed: data.seed,
    beforeRun(input) {
      const n = Math.min(input.length, inputBytes.length);
      inputBytes.set(input.subarray(0, n));
      header[1] = n;
      header[2] = n < input.length ? 1 : 0;
      Atomics.store(header, 0, ++executions);
    },
    onFinding(f) {
      port.postMessage({ type: 'finding', parser, kind: f.kind, signature: f.signature, message: f.message, ms: f.ms, input: f.input } satisfies WorkerMessage);
    },
  });
  port.postMessage({ type: 'done', parser, result, slowestInput } satisfies WorkerMessage);
}
