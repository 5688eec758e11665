import { cbc } from '@noble/ciphers/aes.js';
import { CorruptBackupError } from '../../core/errors.ts';
import { readFully, type FileRead } from '../../core/file-read.ts';
import { stripPadding } from './aes-cbc.ts';

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
 * `file`, an AES-256-CBC ciphertext (zero IV, PKCS#7), read synchronously as its plaintext: a read
 * fetches the whole blocks it touches and the block before them, whose ciphertext is their IV.
 * `size` is the plaintext's length. Closing it closes `file`. `decrypt` is for tests.
 */
export function decryptingFileRead(file: FileRead, key: Uint8Array, what: string, decrypt: CbcDecrypt = syncCbcDecrypt()): FileRead {
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
  return {
    size,
    read(into: Uint8Array, at: number): number {
      const end = Math.min(size, at + into.length);
      if (at < 0 || end <= at) return 0;
      const from = at - (at % BLOCK);
      const to = Math.min(file.size, Math.ceil(end / BLOCK) * BLOCK);
      into.set(decryptRange(from, to).subarray(at - from, end - from));
      return end - at;
    },
    close: () => file.close(),
  };
}
