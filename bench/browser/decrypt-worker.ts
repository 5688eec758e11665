/// <reference lib="webworker" />
// The library's streamed file decryption (src/library/crypto/aes-cbc.ts) in a dedicated worker, as
// workers/library.worker.ts runs it: 64 MiB of AES-256-CBC ciphertext in the 4 MiB chunks the file
// sources read, decrypted and checked once (untimed), then timed `runs` times. Posts MB/s per run.
import { decryptStream } from '../../src/library/crypto/aes-cbc.ts';
import type { BrowserOutcome } from './harness-types.ts';

const SIZE = 64 * 1024 * 1024;
const CHUNK = 4 * 1024 * 1024;

async function measure(runs: number): Promise<number[]> {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(32).fill(7), 'AES-CBC', false, ['encrypt', 'decrypt']);
  const plain = new Uint8Array(SIZE);
  for (let at = 0; at < SIZE; at += 65536) crypto.getRandomValues(plain.subarray(at, at + 65536));
  const cipher = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, plain));
  const chunks = function* (): Iterable<Uint8Array> {
    for (let at = 0; at < cipher.length; at += CHUNK) yield cipher.subarray(at, Math.min(cipher.length, at + CHUNK));
  };
  let checked = 0;
  for await (const p of decryptStream(key, chunks(), 'bench')) {
    for (let i = 0; i < p.length; i += 4093) if (p[i] !== plain[checked + i]) throw new Error(`wrong plaintext at ${checked + i}`);
    checked += p.length;
  }
  if (checked !== SIZE) throw new Error(`decrypted ${checked} bytes, expected ${SIZE}`);
  const rates: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    let total = 0;
    for await (const p of decryptStream(key, chunks(), 'bench')) total += p.length;
    if (total !== SIZE) throw new Error(`decrypted ${total} bytes, expected ${SIZE}`);
    rates.push(SIZE / 1024 / 1024 / ((performance.now() - started) / 1000));
  }
  return rates;
}

self.onmessage = async (event: MessageEvent<number>) => {
  let outcome: BrowserOutcome;
  try {
    outcome = { runs: await measure(event.data) };
  } catch (error) {
    outcome = { error: String(error) };
  }
  self.postMessage(outcome);
};
