import { bs, concat } from './bytes.ts';

export type HashName = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

const subtle = () => globalThis.crypto.subtle;
const encoder = new TextEncoder();

export async function digest(hash: HashName, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest(hash, bs(data)));
}

/** TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label ‖ seed) truncated to `length`. */
export async function prf(hash: HashName, secret: Uint8Array, label: string, seed: Uint8Array, length: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', bs(secret.byteLength ? secret : new Uint8Array(1)), { name: 'HMAC', hash }, false, ['sign']);
  const labelSeed = concat([encoder.encode(label), seed]);
  const out = new Uint8Array(length);
  let a: Uint8Array = labelSeed;
  let filled = 0;
  while (filled < length) {
    a = new Uint8Array(await subtle().sign('HMAC', key, bs(a)));
    const block = new Uint8Array(await subtle().sign('HMAC', key, bs(concat([a, labelSeed]))));
    const take = Math.min(block.byteLength, length - filled);
    out.set(block.subarray(0, take), filled);
    filled += take;
  }
  return out;
}
