// Bulk TLS throughput: our client → our server over an in-memory stream pair (Node WebCrypto).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStreamPair } from '../src/core/stream-pair.ts';
import { acceptTls, certificatesFromPem, connectTls, importRsaPrivateKeyPem } from '../src/tls/index.ts';
import { type BenchResult, median } from './bench-result.ts';

const TOTAL = 64 << 20;
const WRITE_SIZE = 1 << 20;
const RUNS = 3;

async function identity() {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-tls-bench-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=bench'], { stdio: 'ignore' });
    return {
      certificateChain: certificatesFromPem(readFileSync(join(dir, 'c.pem'), 'utf8')),
      privateKey: await importRsaPrivateKeyPem(readFileSync(join(dir, 'k.pem'), 'utf8')),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** MB/s (10^6 bytes per second) for TOTAL bytes client → server. */
async function runOnce(suite: number, id: Awaited<ReturnType<typeof identity>>): Promise<number> {
  const [a, b] = createStreamPair(4 << 20);
  const [client, server] = await Promise.all([
    connectTls(a, { identity: id, cipherSuites: [suite] }),
    acceptTls(b, { identity: id, requestClientCertificate: true }),
  ]);
  const data = new Uint8Array(WRITE_SIZE).fill(0x5a);
  const started = performance.now();
  const writer = (async () => {
    for (let sent = 0; sent < TOTAL; sent += WRITE_SIZE) await client.write(data);
    await client.close();
  })();
  let received = 0;
  for (let chunk = await server.read(); chunk; chunk = await server.read()) received += chunk.byteLength;
  await writer;
  const seconds = (performance.now() - started) / 1000;
  if (received !== TOTAL) throw new Error(`received ${received} of ${TOTAL}`);
  return TOTAL / 1e6 / seconds;
}

export default async function (): Promise<BenchResult[]> {
  const id = await identity();
  const results: BenchResult[] = [];
  await runOnce(0xc02f, id); // warm-up: the first runs pay for JIT and WebCrypto thread start-up
  for (const [suite, label] of [
    [0xc030, 'AES-256-GCM'],
    [0xc02f, 'AES-128-GCM'],
  ] as const) {
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await runOnce(suite, id));
    results.push({ name: `tls bulk ${label} client→server (Node, in-memory)`, value: median(runs), unit: 'MB/s', target: 300, better: 'higher' });
  }
  return results;
}
