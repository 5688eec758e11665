// In the browser an encrypted Manifest.db read in place is decrypted ahead of the index's scan by
// WebCrypto (decryptingFileRead's readAhead, ManifestIndex.buildAsync), where page-by-page JavaScript
// AES took 20 s at 1.3M files. The index built that way must equal the one built without it, reads of
// windows decrypted ahead must give the same bytes as decrypting them synchronously, and the scan must
// rarely fall back to the synchronous AES.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { decryptingFileRead, nobleCbcDecrypt, type CbcDecrypt } from '../../src/library/crypto/decrypting-file-read.ts';
import type { FileRead } from '../../src/core/file-read.ts';
import { ManifestDb } from '../../src/library/manifest-db.ts';
import { generateBackup } from './backup-generator.ts';

const subtle = globalThis.crypto.subtle;
const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

const keyBytes = new Uint8Array(32).map((_, i) => (i * 11 + 5) & 0xff);

async function encrypt(plain: Uint8Array): Promise<Uint8Array> {
  const key = await subtle.importKey('raw', keyBytes, 'AES-CBC', false, ['encrypt']);
  return new Uint8Array(await subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, plain.slice()));
}

function memoryFile(bytes: Uint8Array): FileRead {
  return {
    size: bytes.length,
    read(into, at) {
      const part = bytes.subarray(at, Math.min(bytes.length, at + into.length));
      into.set(part);
      return part.length;
    },
    close() {},
  };
}

/** The browser's synchronous AES, counting the bytes it decrypts. */
function countingNoble(): { decrypt: CbcDecrypt; bytes: () => number } {
  let bytes = 0;
  return {
    decrypt: (key, iv, cipher, into) => {
      bytes += cipher.length;
      nobleCbcDecrypt(key, iv, cipher, into);
    },
    bytes: () => bytes,
  };
}

test('reads inside windows decrypted ahead give the same bytes as synchronous decryption, at any offset', async () => {
  const plain = new Uint8Array(5 * 1024 * 1024 + 777).map((_, i) => (i * 2654435761) >>> 27);
  const cipher = await encrypt(plain);
  const webKey = await subtle.importKey('raw', keyBytes, 'AES-CBC', false, ['decrypt', 'encrypt']);
  const sync = countingNoble();
  const file = decryptingFileRead(memoryFile(cipher), keyBytes, 'Manifest.db', sync.decrypt, webKey);
  assert.equal(file.size, plain.length);
  let seed = 3;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (let k = 0; k < 400; k++) {
    if (k % 20 === 0) await file.readAhead!();
    const at = random(plain.length + 50);
    const into = new Uint8Array([1, 100, 4096, 300_000][random(4)]!);
    const got = file.read(into, at);
    const want = plain.subarray(Math.min(at, plain.length), Math.min(plain.length, at + into.length));
    assert.equal(got, want.length);
    assert.deepEqual(into.subarray(0, got), want, `at ${at}+${into.length}`);
  }
  // Read front to back, awaiting readAhead between reads, as the index's scan does: almost nothing synchronous.
  const scanSync = countingNoble();
  const scan = decryptingFileRead(memoryFile(cipher), keyBytes, 'Manifest.db', scanSync.decrypt, webKey);
  const page = new Uint8Array(4096);
  const before = scanSync.bytes(); // the last block, read to learn the size
  for (let at = 0; at < plain.length; at += page.length) {
    if ((at / page.length) % 64 === 0) await scan.readAhead!();
    const got = scan.read(page, at);
    assert.deepEqual(page.subarray(0, got), plain.subarray(at, at + got));
  }
  assert.equal(scanSync.bytes() - before, 0, 'every page of the scan came from a window decrypted ahead');
  scan.close();
  file.close();
});

test('the index built while WebCrypto decrypts ahead equals the one built page by page', async () => {
  // Enough rows for a Manifest.db of several read-ahead windows.
  const extra = Array.from({ length: 12_000 }, (_, i) => ({ domain: `AppDomain-com.example.app${i % 40}`, relativePath: `Library/Caches/folder-${i % 97}/file-${i}.dat`, kind: 'directory' as const }));
  const b = await generateBackup({ extra });
  cleanup.push(b.dir);
  const plain = new Uint8Array(await readFile(join(b.dir, 'Manifest.db')));
  assert.ok(plain.length > 4 * 1024 * 1024, `a Manifest.db of several windows (${plain.length} bytes)`);
  const cipher = await encrypt(plain);
  const webKey = await subtle.importKey('raw', keyBytes, 'AES-CBC', false, ['decrypt', 'encrypt']);
  const expected = await ManifestDb.open(plain);
  const sync = countingNoble();
  const file = decryptingFileRead(memoryFile(cipher), keyBytes, 'Manifest.db', sync.decrypt, webKey);
  const db = await ManifestDb.open({ inPlace: file });
  try {
    const opened = sync.bytes();
    await db.prepareIndexAsync();
    const scanned = sync.bytes() - opened;
    assert.ok(scanned < plain.length / 10, `the scan decrypted ${scanned} of ${plain.length} bytes synchronously`);
    assert.deepEqual(db.domains(), expected.domains());
    assert.deepEqual(db.totals(), expected.totals());
    assert.deepEqual(db.list('AppDomain-com.example.app7', 'Library/Caches'), expected.list('AppDomain-com.example.app7', 'Library/Caches'));
    assert.deepEqual(db.search('file-1199'), expected.search('file-1199'));
  } finally {
    db.close();
    expected.close();
  }
});
