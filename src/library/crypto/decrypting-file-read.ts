import { cbc } from '@noble/ciphers/aes.js';
import { CorruptBackupError } from '../../core/errors.ts';
import { readFully, type FileRead } from '../../core/file-read.ts';
import { decryptBlocks, stripPadding } from './aes-cbc.ts';

// SQLite's VFS reads synchronously and WebCrypto only answers with promises, so reading an encrypted
// Manifest.db in place takes a synchronous AES: Node's own (OpenSSL, ≈2.5 GB/s here) where there is
// one, else @noble/ciphers (≈85 MB/s). Either decrypts only the pages SQLite asks for, where decrypting
// the whole file into SQLite's memory held all of it (1.38 GB for an encrypted 1.3M-file backup).

/** Decrypts whole blocks of AES-256-CBC `cipher` (no padding removed) into `into`, of the same length. */
export type CbcDecrypt = (key: Uint8Array, iv: Uint8Array, cipher: Uint8Array, into: Uint8Array) => void;

interface NodeDecipher {
  setAutoPadding(on: boolean): NodeDecipher;
  update(data: Uint8Array): Uint8Array;
}
interface NodeCrypto {
  createDecipheriv(algorithm: string, key: Uint8Array, iv: Uint8Array): NodeDecipher;
}

/** The decryptor where Node's is missing (the browser); exported for tests. */
export const nobleCbcDecrypt: CbcDecrypt = (key, iv, cipher, into) => {
  cbc(key, iv, { disablePadding: true }).decrypt(cipher, into);
};

// process.getBuiltinModule (Node ≥ 20.16) rather than an import, so a browser bundle has nothing to resolve.
const nodeCrypto = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;

/** Whether decryptingFileRead decrypts natively here (Node), not in JavaScript (the browser). */
export const nativeSyncAes = typeof nodeCrypto?.createDecipheriv === 'function';

function syncCbcDecrypt(): CbcDecrypt {
  const node = nodeCrypto;
  if (!nativeSyncAes || !node) return nobleCbcDecrypt;
  return (key, iv, cipher, into) => {
    into.set(node.createDecipheriv('aes-256-cbc', key, iv).setAutoPadding(false).update(cipher));
  };
}

const BLOCK = 16;

/**
 * Read-ahead (see DecryptingFileRead.readAhead): windows of this size, this many decrypted ahead of where
 * the scan is. WebCrypto's AES-CBC decrypts ≈520 MB/s in a Chromium worker here, whatever the
 * window from 1 to 16 MiB, where @noble/ciphers does ≈85 MB/s on the thread SQLite runs on.
 */
const AHEAD_WINDOW = 2 * 1024 * 1024;
const AHEAD_WINDOWS = 4;
/** A read this big is SQLite's own read-ahead in a scan (sqlite-in-place.ts reads 1 MiB then), which says where the scan is. */
const SCAN_READ = 64 * 1024;

export interface DecryptingFileRead extends FileRead {
  /**
   * Only with a WebCrypto key: starts decrypting, on WebCrypto's threads, the windows a forward scan reads
   * next (from where it is: see scanAt), and waits for the first two of them. A read that falls in windows
   * decrypted ahead costs a copy; any other read decrypts synchronously as before. A scan that awaits this
   * between batches of rows (ManifestIndex.buildAsync) overlaps decryption with its own work.
   */
  readAhead?(): Promise<void>;
}

/**
 * `file`, an AES-256-CBC ciphertext (zero IV, PKCS#7), read synchronously as its plaintext: a read
 * fetches the whole blocks it touches and the block before them, whose ciphertext is their IV.
 * `size` is the plaintext's length. Closing it closes `file`. `decrypt` is for tests; `webKey`, the
 * same key for WebCrypto, adds readAhead (where synchronous AES is JavaScript's).
 */
export function decryptingFileRead(file: FileRead, key: Uint8Array, what: string, decrypt: CbcDecrypt = syncCbcDecrypt(), webKey?: CryptoKey): DecryptingFileRead {
  if (key.length !== 32) throw new CorruptBackupError(`The encryption key of ${what} is damaged (${key.length} bytes, not 32).`);
  if (file.size < BLOCK || file.size % BLOCK !== 0) {
    throw new CorruptBackupError(`${what} is damaged: its encrypted length (${file.size}) is not a whole number of blocks.`);
  }
  const zeroIv = new Uint8Array(BLOCK);
  // Reused between reads: [iv block][cipher blocks], and the plaintext of the blocks.
  let cipher = new Uint8Array(0);
  let plain = new Uint8Array(0);

  /** Decrypts the whole blocks [from, to) into `plain`, which it returns (a view of the reused buffer). */
  const decryptRange = (from: number, to: number): Uint8Array => {
    const withIv = from === 0 ? 0 : BLOCK;
    const need = to - from + withIv;
    if (cipher.length < need) {
      cipher = new Uint8Array(need);
      plain = new Uint8Array(need);
    }
    const source = cipher.subarray(0, need);
    if (readFully(file, source, from - withIv) !== need) throw new CorruptBackupError(`${what} changed or was cut short while it was read.`);
    const iv = withIv ? source.subarray(0, BLOCK) : zeroIv;
    const out = plain.subarray(0, to - from);
    decrypt(key, iv, source.subarray(withIv), out);
    return out;
  };

  const size = file.size - BLOCK + stripPadding(decryptRange(file.size - BLOCK, file.size).slice()).length;

  /** Plaintext windows decrypted ahead, by window number, and those still decrypting. */
  const ready = new Map<number, Uint8Array>();
  const pending = new Map<number, Promise<void>>();
  /**
   * Where the scan is: the end of the last read of a whole read-ahead window of SQLite's (≥ 64 KiB), else of
   * the last read. Not the furthest byte read: a scan also reads b-tree pages that lie far ahead of it.
   */
  let scanAt = 0;
  let scanning = false;
  let closed = false;
  const decryptWindow = async (w: number): Promise<void> => {
    const from = w * AHEAD_WINDOW;
    const to = Math.min(file.size, from + AHEAD_WINDOW);
    const withIv = from === 0 ? 0 : BLOCK;
    const source = new Uint8Array(to - from + withIv);
    if (readFully(file, source, from - withIv) !== source.length) return; // the synchronous read will say why
    const plain = await decryptBlocks(webKey!, withIv ? source.subarray(0, BLOCK) : undefined, source.subarray(withIv), what);
    if (!closed) ready.set(w, plain);
  };
  /** Copies [at, end) from windows decrypted ahead; false (copying nothing useful) unless all of it is there. */
  const readReady = (into: Uint8Array, at: number, end: number): boolean => {
    if (ready.size === 0) return false;
    for (let offset = at; offset < end; ) {
      const w = Math.floor(offset / AHEAD_WINDOW);
      const plain = ready.get(w);
      if (!plain) return false;
      const start = w * AHEAD_WINDOW;
      const n = Math.min(end, start + plain.length) - offset;
      if (n <= 0) return false;
      into.set(plain.subarray(offset - start, offset - start + n), offset - at);
      offset += n;
    }
    return true;
  };
  const readAhead = async (): Promise<void> => {
    const first = Math.floor(scanAt / AHEAD_WINDOW);
    const last = Math.min(Math.floor((file.size - 1) / AHEAD_WINDOW), first + AHEAD_WINDOWS - 1);
    for (const w of ready.keys()) if (w < first - 1) ready.delete(w);
    for (let w = first; w <= last; w++) {
      if (ready.has(w) || pending.has(w)) continue;
      // A failure is left to the synchronous read of the same bytes, which names it.
      pending.set(w, decryptWindow(w).catch(() => undefined).finally(() => pending.delete(w)));
    }
    // SQLite's own read-ahead reaches up to 1 MiB past the scan, into the next window.
    await pending.get(first);
    await pending.get(first + 1);
  };

  return {
    size,
    ...(webKey ? { readAhead } : {}),
    read(into: Uint8Array, at: number): number {
      const end = Math.min(size, at + into.length);
      if (at < 0 || end <= at) return 0;
      if (end - at >= SCAN_READ) {
        scanning = true;
        scanAt = end;
      } else if (!scanning) {
        scanAt = end;
      }
      if (readReady(into, at, end)) return end - at;
      const from = at - (at % BLOCK);
      const to = Math.min(file.size, Math.ceil(end / BLOCK) * BLOCK);
      into.set(decryptRange(from, to).subarray(at - from, end - from));
      return end - at;
    },
    close: () => {
      closed = true;
      ready.clear();
      file.close();
    },
  };
}
