// Bulk TLS throughput, our client → our server over an in-memory stream pair: in Node (WebCrypto) and in
// a Worker in headless Chromium (the app's layout: the host stack runs in a worker).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchResult, median } from './bench-result.ts';
import { runBrowserBench } from './browser/harness.ts';
import { identityFromPem, measureTlsUpload } from './browser/tls-services.ts';

const TOTAL = 64 << 20;
const RUNS = 3;
const TARGET_MBPS = 300;
const SUITES = [
  [0xc030, 'AES-256-GCM'],
  [0xc02f, 'AES-128-GCM'],
] as const;

function pems(): { certificatePem: string; privateKeyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-tls-bench-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=bench'], { stdio: 'ignore' });
    return { certificatePem: readFileSync(join(dir, 'c.pem'), 'utf8'), privateKeyPem: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function (): Promise<BenchResult[]> {
  const keys = pems();
  const identity = await identityFromPem(keys.certificatePem, keys.privateKeyPem);
  const results: BenchResult[] = [];
  await measureTlsUpload(0xc02f, identity, TOTAL); // warm-up: the first runs pay for JIT and WebCrypto thread start-up
  for (const [suite, label] of SUITES) {
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measureTlsUpload(suite, identity, TOTAL));
    console.log(`  tls ${label} node runs (MB/s): ${runs.map((v) => v.toFixed(0)).join(', ')}`);
    results.push({ name: `tls bulk ${label} client→server (Node, in-memory)`, value: median(runs), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  }
  for (const [suite, label] of SUITES) {
    const runs = await runBrowserBench('tls.html', { ...keys, suite, total: TOTAL, runs: RUNS });
    console.log(`  tls ${label} chromium worker runs (MB/s): ${runs.map((v) => v.toFixed(0)).join(', ')}`);
    results.push({ name: `tls bulk ${label} client→server (Chromium Worker, in-memory)`, value: median(runs), unit: 'MB/s', target: TARGET_MBPS, better: 'higher' });
  }
  return results;
}
