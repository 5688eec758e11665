// An encrypted Manifest.db is read in place through decryptingFileRead: SQLite's synchronous reads
// at any offset and length must give exactly the plaintext WebCrypto's whole-file decryption gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decryptingFileRead, nobleCbcDecrypt } from '../../src/library/crypto/decrypting-file-read.ts';
import { CorruptBackupError } from '../../src/core/errors.ts';
import type { FileRead } from '../../src/core/file-read.ts';

const subtle = globalThis.crypto.subtle;

async function encrypt(keyBytes: Uint8Array<ArrayBuffer>, plain: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const key = await subtle.importKey('raw', keyBytes, 'AES-CBC', false, ['encrypt']);
  return new Uint8Array(await subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, plain));
}

function memoryFile(bytes: Uint8Array, onClose = () => {}): FileRead & { reads: number } {
  const file = {
    size: bytes.length,
    reads: 0,
    read(into: Uint8Array, at: number): number {
      file.reads++;
      const part = bytes.subarray(at, Math.min(bytes.length, at + into.length));
      into.set(part);
      return part.length;
    },
    close: onClose,
  };
  return file;
}

const keyBytes = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);

for (const [aes, decrypt] of [['Node', undefined], ['@noble/ciphers (the browser)', nobleCbcDecrypt]] as const) {
  for (const length of [0, 1, 15, 16, 17, 4095, 4096, 70_000]) {
    test(`${aes}: a ${length}-byte plaintext reads back exactly, at any offset and length`, async () => {
      const plain = new Uint8Array(length).map((_, i) => (i * 131 + (i >> 8)) & 0xff);
      const file = decryptingFileRead(memoryFile(await encrypt(keyBytes, plain)), keyBytes, 'Manifest.db', decrypt);
      assert.equal(file.size, length, 'the padding is not part of the file');
      const cuts = [0, 1, 15, 16, 17, 4095, 4096, 4097, length - 1, length].filter((n) => n >= 0 && n <= length);
      for (const at of cuts) {
        for (const n of [1, 16, 33, 4096, 100_000]) {
          const into = new Uint8Array(n).fill(0xee);
          const got = file.read(into, at);
          const want = plain.subarray(at, Math.min(length, at + n));
          assert.equal(got, want.length, `read ${n} at ${at}`);
          assert.deepEqual(into.subarray(0, got), want, `bytes of ${n} at ${at}`);
        }
      }
      assert.equal(file.read(new Uint8Array(8), length + 100), 0, 'past the end reads nothing');
    });
  }
}

test('a key of the wrong size or a ciphertext that is not whole blocks is a damaged backup, not a crash', async () => {
  const cipher = await encrypt(keyBytes, new Uint8Array(100));
  assert.throws(() => decryptingFileRead(memoryFile(cipher), keyBytes.subarray(0, 16), 'Manifest.db'), CorruptBackupError);
  assert.throws(() => decryptingFileRead(memoryFile(cipher.subarray(0, 40)), keyBytes, 'Manifest.db'), /whole number of blocks/);
  assert.throws(() => decryptingFileRead(memoryFile(new Uint8Array(0)), keyBytes, 'Manifest.db'), CorruptBackupError);
});

test('a file that shrinks while it is read says so, and closing closes the file beneath', async () => {
  const cipher = await encrypt(keyBytes, new Uint8Array(10_000).fill(5));
  let closed = 0;
  const beneath = memoryFile(cipher, () => closed++);
  const file = decryptingFileRead(beneath, keyBytes, 'Manifest.db');
  const shrunk = cipher.subarray(0, 4096);
  beneath.read = (into, at) => {
    const part = shrunk.subarray(at, Math.min(shrunk.length, at + into.length));
    into.set(part);
    return part.length;
  };
  assert.throws(() => file.read(new Uint8Array(100), 5000), /cut short/);
  file.close();
  assert.equal(closed, 1);
});

test('a wrong key reads garbage of the same length (SQLite then finds no database), never past the file', async () => {
  const plain = new Uint8Array(4096).fill(1);
  const wrong = new Uint8Array(32).fill(9);
  const file = decryptingFileRead(memoryFile(await encrypt(keyBytes, plain)), wrong, 'Manifest.db');
  assert.ok(file.size > 4096 - 16 && file.size <= 4096 + 16);
  const into = new Uint8Array(4096);
  assert.equal(file.read(into, 0), Math.min(4096, file.size));
  assert.notDeepEqual(into, plain);
});
