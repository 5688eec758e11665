// Page half of the browser decrypt bench: the library decrypts in its worker, so the bench does too.
import type { BrowserOutcome } from './harness-types.ts';

const worker = new Worker(new URL('./decrypt-worker.ts', import.meta.url), { type: 'module' });
worker.onmessage = (event: MessageEvent<BrowserOutcome>) => {
  window.__benchOutcome = event.data;
  worker.terminate();
};
worker.onerror = (event) => (window.__benchOutcome = { error: event.message });
worker.postMessage((window.__benchInput as { runs?: number } | undefined)?.runs ?? 5);
