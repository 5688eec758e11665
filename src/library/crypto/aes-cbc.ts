import { CorruptBackupError } from '../../core/errors.ts';

const BLOCK = 16;
const PADDING_BLOCK = new Uint8Array(BLOCK).fill(BLOCK);
const subtle = () => globalThis.crypto.subtle;

/**
 * Decrypts whole CBC blocks without letting WebCrypto judge the padding: WebCrypto always
 * validates and strips PKCS#7, so we append one synthetic block that decrypts to a full padding
 * block (E_k(lastCipherBlock ⊕ 0x10…) = first block of AES-CBC-encrypt(k, iv = last block, 16×0x10))
 * and WebCrypto strips exactly that, returning the raw plaintext of `cipher`.
 */
async function decryptRaw(key: CryptoKey, iv: Uint8Array, cipher: Uint8Array): Promise<Uint8Array> {
  if (cipher.length === 0) return cipher;
  const last = cipher.subarray(cipher.length - BLOCK);
  const tail = new Uint8Array(await subtle().encrypt({ name: 'AES-CBC', iv: new Uint8Array(last) }, key, PADDING_BLOCK)).subarray(0, BLOCK);
  const input = new Uint8Array(cipher.length + BLOCK);
  input.set(cipher);
  input.set(tail, cipher.length);
  return new Uint8Array(await subtle().decrypt({ name: 'AES-CBC', iv: new Uint8Array(iv) }, key, input));
}

/**
 * Removes PKCS#7 padding judged by the last byte — never by MBFile Size, which is sometimes wrong.
 * Invalid padding (seen in the wild) leaves the plaintext whole rather than losing data.
 */
export function stripPadding(plain: Uint8Array): Uint8Array {
  const n = plain[plain.length - 1] ?? 0;
  if (n < 1 || n > BLOCK || n > plain.length) return plain;
  for (let i = plain.length - n; i < plain.length; i++) if (plain[i] !== n) return plain;
  return plain.subarray(0, plain.length - n);
}

/**
 * Size of one WebCrypto call. Large enough that the per-call cost (a thread hop, the 16-byte
 * padding-block encryption) vanishes, small enough that the input copy and output buffer of each
 * call are recycled by the allocator instead of being fresh memory every time — first-touch page
 * faults, not AES, dominated 4–64 MiB calls (measured in bench/library.bench.ts).
 */
export const DECRYPT_SLICE = 1 << 20;
/** CBC decryption needs only ciphertext to start any slice, so a few run at once on WebCrypto's threads. */
const IN_FLIGHT = 2;

/** AES-256-CBC, zero IV (what backups use), PKCS#7 stripped by the last byte. Decrypts into one buffer. */
export async function decryptWhole(key: CryptoKey, cipher: Uint8Array, what: string): Promise<Uint8Array> {
  if (cipher.length % BLOCK !== 0) {
    throw new CorruptBackupError(`${what} is damaged: its encrypted length (${cipher.length}) is not a whole number of blocks.`);
  }
  const out = new Uint8Array(cipher.length);
  let at = 0;
  for await (const plain of decryptSlices(key, cipher)) {
    out.set(plain, at);
    at += plain.length;
  }
  return stripPadding(out);
}

async function* decryptSlices(key: CryptoKey, cipher: Uint8Array): AsyncGenerator<Uint8Array> {
  const queue: Promise<Uint8Array>[] = [];
  for (let at = 0; at < cipher.length; at += DECRYPT_SLICE) {
    const iv = at === 0 ? new Uint8Array(BLOCK) : cipher.slice(at - BLOCK, at);
    queue.push(quiet(decryptRaw(key, iv, cipher.subarray(at, Math.min(cipher.length, at + DECRYPT_SLICE)))));
    if (queue.length >= IN_FLIGHT) yield await queue.shift()!;
  }
  while (queue.length) yield await queue.shift()!;
}

/** Marks a promise as handled (a later one may fail while we still await an earlier one); awaiting it still throws. */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * Streams the decryption of a file: each slice uses the last cipher block before it as its IV, so
 * slices decrypt independently and up to IN_FLIGHT run at once; output stays in order.
 */
export async function* decryptStream(key: CryptoKey, chunks: AsyncIterable<Uint8Array>, what: string): AsyncIterable<Uint8Array> {
  let iv: Uint8Array = new Uint8Array(BLOCK);
  let pending = new Uint8Array(0);
  const queue: Promise<Uint8Array>[] = [];
  let held: Uint8Array | undefined; // the latest plaintext, kept back until we know whether it is the end
  for await (const chunk of chunks) {
    let data = chunk;
    if (pending.length) {
      data = new Uint8Array(pending.length + chunk.length);
      data.set(pending);
      data.set(chunk, pending.length);
    }
    const whole = data.length - (data.length % BLOCK);
    pending = data.slice(whole);
    for (let at = 0; at < whole; at += DECRYPT_SLICE) {
      const cipher = data.subarray(at, Math.min(whole, at + DECRYPT_SLICE));
      queue.push(quiet(decryptRaw(key, iv, cipher)));
      iv = cipher.slice(cipher.length - BLOCK);
      if (queue.length >= IN_FLIGHT) {
        const plain = await queue.shift()!;
        if (held) yield held;
        held = plain;
      }
    }
  }
  if (pending.length) throw new CorruptBackupError(`${what} is damaged: its encrypted length is not a whole number of blocks.`);
  while (queue.length) {
    const plain = await queue.shift()!;
    if (held) yield held;
    held = plain;
  }
  if (!held) return;
  // Padding can straddle nothing but the final block, which always sits in `held`.
  if (held.length >= BLOCK) {
    const body = held.subarray(0, held.length - BLOCK);
    const end = stripPadding(held.subarray(held.length - BLOCK));
    if (body.length) yield body;
    if (end.length) yield end;
  } else {
    yield stripPadding(held);
  }
}
