/// <reference lib="webworker" />
// Worker half of the browser TLS bench: our client → our server over an in-memory stream pair, both in
// this worker (in the app the host stack's TLS runs in a worker too).
import { identityFromPem, measureTlsUpload } from './tls-services.ts';

export interface TlsBenchRequest {
  suite: number;
  total: number;
  runs: number;
  certificatePem: string;
  privateKeyPem: string;
}

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;
scope.onmessage = async (event: MessageEvent<TlsBenchRequest>) => {
  const { suite, total, runs, certificatePem, privateKeyPem } = event.data;
  try {
    const identity = await identityFromPem(certificatePem, privateKeyPem);
    await measureTlsUpload(suite, identity, 8 << 20); // warm-up: JIT and WebCrypto threads
    const results: number[] = [];
    for (let i = 0; i < runs; i++) results.push(await measureTlsUpload(suite, identity, total));
    scope.postMessage({ runs: results });
  } catch (error) {
    scope.postMessage({ error: error instanceof Error ? `${error.message}\n${error.stack}` : String(error) });
  }
};
