import { CorruptBackupError } from '../../core/errors.ts';
import { collectBytes, concatBytes } from '../../core/bytes.ts';

// Backup payloads and Manifest.db are AES-256-CBC with a zero IV and PKCS#7 padding, decrypted on
// demand. WebCrypto is the only fast AES we have (AES-NI, off the main thread), but its CBC decrypt
// always validates and strips PKCS#7 — so a slice from the middle of a file cannot be decrypted
// as it is. Each slice gets one synthetic block appended that decrypts to a full padding block
// (see paddingBlockAfter), and WebCrypto strips exactly that, returning the raw plaintext.

const BLOCK = 16;
const PADDING_PLAIN = new Uint8Array(BLOCK).fill(BLOCK);
const ZERO_IV = new Uint8Array(BLOCK);
const subtle = () => globalThis.crypto.subtle;

/**
 * Size of one WebCrypto decrypt call. Every call copies its input and returns a new output buffer,
 * and each slice costs two calls of ~50–80 µs CPU apiece (thread hops, the padding-block
 * encryption), so the best size is set by the engine's allocator, not by AES (GB/s). Chromium maps
 * blocks of ~1 MiB and more fresh for every call, and first touch of new pages is what costs: in
 * headless Chromium on the dev VM, 1 MiB slices streamed ~50 MB/s, 128–256 KiB ~130 MB/s. Node
 * (glibc) recycled 1 MiB buffers as well as small ones, so there the per-call cost decides: 1 MiB
 * slices took 40–85 ms of CPU per 64 MiB, 256 KiB 75–115 ms. Measured with bench/library.bench.ts
 * and a Chromium page running the same stream.
 */
export const DECRYPT_SLICE = typeof process !== 'undefined' && typeof process.versions?.node === 'string' ? 1 << 20 : 256 * 1024;
/**
 * Slices still decrypting when the next source chunk is requested: slices of a chunk are all
 * submitted at once (CBC decryption needs only ciphertext, so they run on WebCrypto's threads
 * together), and the next chunk is read while the last IN_FLIGHT of them finish.
 */
const IN_FLIGHT = 4;

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
 * The cipher block that, following `lastBlock`, decrypts to 16×0x10: E_k(0x10… ⊕ lastBlock), which is
 * the first block of AES-CBC-encrypt(k, iv = lastBlock, 16×0x10).
 */
async function paddingBlockAfter(key: CryptoKey, lastBlock: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await subtle().encrypt({ name: 'AES-CBC', iv: lastBlock }, key, PADDING_PLAIN), 0, BLOCK);
}

/**
 * Decrypts one CBC ciphertext as consecutive slices of whole blocks, each slice independently (its
 * IV is the cipher block before it), so several run at once. The key is imported once by the caller
 * and reused; the only large buffer allocated per slice is the one WebCrypto returns.
 */
class SliceDecryptor {
  private iv: Uint8Array<ArrayBuffer> = ZERO_IV;
  /** Slice + padding block, copied in right before each decrypt call and reused: WebCrypto copies its input when called. */
  private staging = new Uint8Array(0);

  constructor(
    private readonly key: CryptoKey,
    private readonly what: string,
    private readonly sliceSize: number,
  ) {}

  /** Starts decrypting the next slice (a non-empty whole number of blocks), which must stay unchanged until this settles. */
  submit(cipher: Uint8Array): Promise<Uint8Array> {
    const iv = this.iv;
    this.iv = cipher.slice(cipher.length - BLOCK) as Uint8Array<ArrayBuffer>;
    const result = this.decryptSlice(iv, cipher, this.iv);
    result.catch(() => undefined); // a later slice may fail while an earlier one is awaited; awaiting it still throws
    return result;
  }

  private async decryptSlice(iv: Uint8Array<ArrayBuffer>, cipher: Uint8Array, lastBlock: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
    try {
      const tail = await paddingBlockAfter(this.key, lastBlock);
      const length = cipher.length + BLOCK;
      if (this.staging.length < length) this.staging = new Uint8Array(Math.max(length, this.sliceSize + BLOCK));
      const input = this.staging.subarray(0, length);
      input.set(cipher);
      input.set(tail, cipher.length);
      // No await between filling `staging` and this call, which copies it: another slice may refill it right after.
      return new Uint8Array(await subtle().decrypt({ name: 'AES-CBC', iv }, this.key, input));
    } catch (error) {
      throw new CorruptBackupError(`${this.what} could not be decrypted.`, error);
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : concatBytes(parts);
}

/**
 * Streams the decryption of a file (AES-256-CBC, zero IV, PKCS#7 stripped by the last byte).
 * Source chunks of a few MiB are decrypted where they lie, in `sliceSize` calls, several at once;
 * output stays in order. Chunks are kept (not copied) until their slices are decrypted; chunks
 * smaller than a slice are gathered first, so tiny chunks do not mean tiny calls.
 */
export async function* decryptStream(
  key: CryptoKey,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  what: string,
  sliceSize = DECRYPT_SLICE,
): AsyncIterable<Uint8Array> {
  if (sliceSize <= 0 || sliceSize % BLOCK !== 0) throw new RangeError(`slice size ${sliceSize} is not a positive multiple of ${BLOCK}`);
  const slices = new SliceDecryptor(key, what, sliceSize);
  const queue: Promise<Uint8Array>[] = [];
  let held: Uint8Array | undefined; // the latest plaintext, kept back until we know whether it ends the file
  let pending: Uint8Array[] = []; // bytes not yet submitted: a partial block, or small chunks being gathered
  let pendingLength = 0;

  // Generators cannot yield from a nested function, so submission returns control here via `queue`.
  const submitWholeBlocks = (data: Uint8Array): void => {
    const whole = data.length - (data.length % BLOCK);
    for (let at = 0; at < whole; at += sliceSize) queue.push(slices.submit(data.subarray(at, Math.min(whole, at + sliceSize))));
    pending = whole < data.length ? [data.subarray(whole)] : [];
    pendingLength = data.length - whole;
  };

  for await (const chunk of chunks) {
    if (pendingLength === 0 && chunk.length >= sliceSize) {
      submitWholeBlocks(chunk);
    } else {
      pending.push(chunk);
      pendingLength += chunk.length;
      if (pendingLength >= sliceSize) submitWholeBlocks(concat(pending));
    }
    while (queue.length > IN_FLIGHT) {
      const plain = await queue.shift()!;
      if (held?.length) yield held;
      held = plain;
    }
  }
  if (pendingLength % BLOCK !== 0) {
    throw new CorruptBackupError(`${what} is damaged: its encrypted length is not a whole number of blocks.`);
  }
  if (pendingLength) submitWholeBlocks(concat(pending));
  while (queue.length) {
    const plain = await queue.shift()!;
    if (held?.length) yield held;
    held = plain;
  }
  // Padding sits in the file's last block, which is always the end of the last slice.
  if (held) {
    const end = stripPadding(held);
    if (end.length) yield end;
  }
}

/** AES-256-CBC, zero IV (what backups use), PKCS#7 stripped by the last byte. Decrypts into one buffer. */
export async function decryptWhole(key: CryptoKey, cipher: Uint8Array, what: string, sliceSize = DECRYPT_SLICE): Promise<Uint8Array> {
  if (cipher.length % BLOCK !== 0) {
    throw new CorruptBackupError(`${what} is damaged: its encrypted length (${cipher.length}) is not a whole number of blocks.`);
  }
  return collectBytes(decryptStream(key, [cipher], what, sliceSize));
}

/**
 * Whole cipher blocks from the middle of a file, decrypted as they are (no padding removed): CBC
 * needs only the cipher block before them as IV (`previous`, or the zero IV at the file's start).
 * This is what lets a database be read in place, page by page, without decrypting all of it.
 */
export async function decryptBlocks(key: CryptoKey, previous: Uint8Array | undefined, cipher: Uint8Array, what: string): Promise<Uint8Array> {
  if (cipher.length === 0) return cipher;
  if (cipher.length % BLOCK !== 0 || (previous && previous.length !== BLOCK)) {
    throw new CorruptBackupError(`${what} is damaged: its encrypted length is not a whole number of blocks.`);
  }
  const iv = (previous ? previous.slice() : ZERO_IV) as Uint8Array<ArrayBuffer>;
  const lastBlock = cipher.slice(cipher.length - BLOCK) as Uint8Array<ArrayBuffer>;
  const input = new Uint8Array(cipher.length + BLOCK);
  input.set(cipher);
  try {
    input.set(await paddingBlockAfter(key, lastBlock), cipher.length);
    return new Uint8Array(await subtle().decrypt({ name: 'AES-CBC', iv }, key, input));
  } catch (error) {
    throw new CorruptBackupError(`${what} could not be decrypted.`, error);
  }
}
