// Page half of the browser TLS bench: starts the worker with the parameters and the identity the Node
// side put on `window.__benchInput`, and publishes the worker's runs.
import type { BrowserOutcome } from './harness-types.ts';
import type { TlsBenchRequest } from './tls-worker.ts';

const input = window.__benchInput as Partial<TlsBenchRequest> | undefined;
if (!input?.certificatePem || !input.privateKeyPem) {
  window.__benchOutcome = { error: 'no identity on window.__benchInput' };
} else {
  const worker = new Worker(new URL('./tls-worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (event: MessageEvent<BrowserOutcome>) => {
    window.__benchOutcome = event.data;
    worker.terminate();
  };
  worker.onerror = (event) => (window.__benchOutcome = { error: event.message });
  worker.postMessage({
    suite: input.suite ?? 0xc02f,
    total: input.total ?? 64 << 20,
    runs: input.runs ?? 3,
    certificatePem: input.certificatePem,
    privateKeyPem: input.privateKeyPem,
  } satisfies TlsBenchRequest);
}
