// Streamed AES-256-CBC decryption (src/library/crypto/aes-cbc.ts) against python `cryptography` as
// the independent encryptor: every size around the block, gather and slice boundaries, cut into
// every awkward chunking, must decrypt to the exact plaintext, the same as the one-shot path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { CorruptBackupError } from '../../src/core/errors.ts';
import { DECRYPT_SLICE, decryptStream, decryptWhole } from '../../src/library/crypto/aes-cbc.ts';

const SLICE = DECRYPT_SLICE;
const SOURCE_CHUNK = 4 * 1024 * 1024; // what the backup sources read at a time

const KEY_BYTES = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 255);
const importKey = (bytes: Uint8Array) =>
  crypto.subtle.importKey('raw', new Uint8Array(bytes), 'AES-CBC', false, ['encrypt', 'decrypt']);

/** Deterministic, non-repeating-looking plaintext (xorshift), so a misplaced block cannot match by accident. */
function plaintext(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

/** AES-256-CBC, zero IV, PKCS#7 — encrypted by python `cryptography`, one process for all inputs. */
function pythonEncrypt(key: Uint8Array, plains: Uint8Array[]): Uint8Array[] {
  const script = `
import sys, struct
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
data = sys.stdin.buffer.read()
key, at, out = data[:32], 32, []
while at < len(data):
    (n,) = struct.unpack('>I', data[at:at + 4]); at += 4
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data[at:at + n]) + padder.finalize(); at += n
    enc = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    c = enc.update(padded) + enc.finalize()
    out.append(struct.pack('>I', len(c)) + c)
sys.stdout.buffer.write(b''.join(out))
`;
  const framed = plains.flatMap((p) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(p.length);
    return [length, p];
  });
  const input = Buffer.concat([key, ...framed]);
  const r = spawnSync('python3', ['-c', script], { input, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, r.stderr?.toString());
  const out: Uint8Array[] = [];
  for (let at = 0; at < r.stdout.length; ) {
    const n = r.stdout.readUInt32BE(at);
    out.push(new Uint8Array(r.stdout.subarray(at + 4, at + 4 + n)));
    at += 4 + n;
  }
  assert.equal(out.length, plains.length);
  return out;
}

/**
 * Cuts `bytes` into chunks of `size` (the last one shorter). `fresh` copies each chunk into its own
 * buffer, like the file sources; otherwise chunks are views into one buffer, like the bench.
 */
async function* chunked(bytes: Uint8Array, size: number, fresh: boolean): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) {
    const view = bytes.subarray(at, Math.min(bytes.length, at + size));
    yield fresh ? view.slice() : view;
  }
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) {
    assert.ok(p.length > 0, 'no empty chunks are yielded');
    parts.push(p);
  }
  return Buffer.concat(parts);
}

// The slice size Node uses (DECRYPT_SLICE) and the one browsers use, which tests run here too.
const BROWSER_SLICE = 256 * 1024;
const SLICES = [...new Set([SLICE, BROWSER_SLICE])];

// Sizes around every boundary the code has: the block, the slice (which is also the gather
// threshold), a few slices, the source chunk; each with a 16-byte-aligned end (a whole padding
// block is added) and an unaligned one.
const sizesFor = (slice: number) => [
  0, 1, 15, 16, 17, 31, 32, 33,
  slice - 16, slice - 1, slice, slice + 1, slice + 15, slice + 16,
  3 * slice, 3 * slice - 5, 3 * slice + 7,
  SOURCE_CHUNK, SOURCE_CHUNK + 16 + 3,
];
const chunkingsFor = (slice: number) => [...new Set([16, 17, 4096, slice - 1, slice, slice + 1, slice + 16, SOURCE_CHUNK, Infinity])];
const SIZES = [...new Set(SLICES.flatMap(sizesFor))];

const vectors = (() => {
  let cached: Map<number, { plain: Uint8Array; cipher: Uint8Array }> | undefined;
  return () => {
    if (!cached) {
      const plains = SIZES.map((size, i) => plaintext(size, 0x9e3779b9 + i));
      const ciphers = pythonEncrypt(KEY_BYTES, plains);
      cached = new Map(plains.map((plain, i) => [plain.length, { plain, cipher: ciphers[i]! }]));
    }
    return cached;
  };
})();
const vector = (size: number) => vectors().get(size)!;

for (const slice of SLICES) {
  test(`python-encrypted files decrypt exactly, one-shot and streamed, at every size and chunking (${slice >> 10} KiB slices)`, async () => {
    const key = await importKey(KEY_BYTES);
    for (const size of new Set(sizesFor(slice))) {
      const { plain, cipher } = vector(size);
      assert.equal(cipher.length, (Math.floor(plain.length / 16) + 1) * 16, 'PKCS#7 always adds 1..16 bytes');
      const untouched = Buffer.from(cipher);
      const whole = await decryptWhole(key, cipher, 'test file', slice);
      assert.ok(Buffer.from(whole).equals(Buffer.from(plain)), `one-shot, size ${size}`);
      for (const chunk of chunkingsFor(slice)) {
        // Byte-sized chunks of large files add nothing but time: they are gathered the same way at any size.
        if (chunk < 4096 && size > slice + 16) continue;
        const large = size > 2 * slice;
        if (large && (chunk === slice || chunk === slice + 1)) continue;
        // Fresh buffers (as the file sources give) and views into one buffer (as the bench gives) take the
        // same path but for where a slice may sit; large files try both only at the source chunk size.
        for (const fresh of chunk < 4096 ? [true] : large && chunk !== SOURCE_CHUNK ? [false] : [false, true]) {
          const streamed = await collect(decryptStream(key, chunked(cipher, Math.min(chunk, cipher.length), fresh), 'test file', slice));
          assert.ok(streamed.equals(Buffer.from(plain)), `streamed, size ${size}, chunks of ${chunk}, ${fresh ? 'fresh' : 'views'}`);
        }
      }
      assert.ok(Buffer.from(cipher).equals(untouched), 'the ciphertext is left as it was');
    }
  });
}

test('the bench input: 4 MiB chunks over a multi-slice file with random content decrypt to the plaintext', async () => {
  // Same shape as bench/library.bench.ts (key of 7s, random plaintext, WebCrypto-encrypted, 4 MiB
  // views), smaller and with an unaligned tail so the final partial slice is exercised too.
  const size = 3 * SOURCE_CHUNK + 5;
  const key = await crypto.subtle.importKey('raw', new Uint8Array(32).fill(7), 'AES-CBC', false, ['encrypt', 'decrypt']);
  const plain = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(plain.subarray(at, Math.min(size, at + 65536)));
  const cipher = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, plain));
  const streamed = await collect(decryptStream(key, chunked(cipher, SOURCE_CHUNK, false), 'bench'));
  assert.ok(streamed.equals(Buffer.from(plain)));
});

test('a stream of irregular chunk sizes (as a deflated zip entry gives) decrypts exactly', async () => {
  const key = await importKey(KEY_BYTES);
  const { plain, cipher } = vector(3 * SLICE + 7);
  async function* irregular(): AsyncIterable<Uint8Array> {
    const sizes = [1, 15, 16, 65_537, 3, 700_001, 48, SLICE + 5, 12_345];
    for (let at = 0, i = 0; at < cipher.length; i++) {
      const n = sizes[i % sizes.length]!;
      yield cipher.slice(at, Math.min(cipher.length, at + n));
      at += n;
    }
  }
  assert.ok((await collect(decryptStream(key, irregular(), 'zip entry'))).equals(Buffer.from(plain)));
});

test('a ciphertext that is not a whole number of blocks is a CorruptBackupError, one-shot and streamed', async () => {
  const key = await importKey(KEY_BYTES);
  for (const cut of [1, 15, 17, SLICE + 1, 3 * SLICE - 1]) {
    const cipher = vector(3 * SLICE).cipher.subarray(0, cut);
    await assert.rejects(decryptWhole(key, cipher, 'Manifest.db'), (e: unknown) => e instanceof CorruptBackupError && /Manifest\.db.*whole number of blocks/.test(e.message));
    for (const size of cut < 4096 ? [1, 16, Infinity] : [4096, SLICE, Infinity]) {
      await assert.rejects(
        collect(decryptStream(key, chunked(cipher, Math.min(size, cipher.length), true), 'Media/big.mov')),
        (e: unknown) => e instanceof CorruptBackupError && /Media\/big\.mov.*whole number of blocks/.test(e.message),
        `cut at ${cut}, chunks of ${size}`,
      );
    }
  }
});

test('invalid padding leaves the plaintext whole (files seen in the wild), at a slice boundary too', async () => {
  const key = await importKey(KEY_BYTES);
  for (const size of [16, 64, SLICE, 2 * SLICE + 32]) {
    // Raw CBC without padding: the last byte is 0x00 or a count that does not repeat.
    const plain = plaintext(size, size);
    plain[size - 1] = size % 32 === 0 ? 0 : 5;
    plain[size - 2] = 6;
    const c = createCipheriv('aes-256-cbc', KEY_BYTES, Buffer.alloc(16)).setAutoPadding(false);
    const cipher = new Uint8Array(Buffer.concat([c.update(plain), c.final()]));
    assert.ok(Buffer.from(await decryptWhole(key, cipher, 'x')).equals(Buffer.from(plain)), `one-shot ${size}`);
    assert.ok((await collect(decryptStream(key, chunked(cipher, SLICE, true), 'x'))).equals(Buffer.from(plain)), `streamed ${size}`);
  }
});

test('a wrong key gives other bytes, never the plaintext, and no crash', async () => {
  const wrong = await importKey(KEY_BYTES.map((b) => b ^ 1));
  const { plain, cipher } = vector(SLICE + 1);
  const out = await collect(decryptStream(wrong, chunked(cipher, SLICE, true), 'x'));
  assert.ok(out.length >= plain.length && out.length <= cipher.length);
  assert.ok(!out.subarray(0, plain.length).equals(Buffer.from(plain)));
});

test('a key that cannot encrypt (so no padding block can be made) is a CorruptBackupError naming the file', async () => {
  const decryptOnly = await crypto.subtle.importKey('raw', new Uint8Array(KEY_BYTES), 'AES-CBC', false, ['decrypt']);
  const { cipher } = vector(33);
  await assert.rejects(decryptWhole(decryptOnly, cipher, 'Library/SMS/sms.db'), (e: unknown) => e instanceof CorruptBackupError && /sms\.db could not be decrypted/.test(e.message));
});

test('several streams at once, each with many slices in flight, keep their plaintexts apart', async () => {
  // A stream copies each slice into one reused buffer right before its WebCrypto call; if the
  // engine read that buffer later, slices would come back with each other's plaintext.
  const key = await importKey(KEY_BYTES);
  const { plain, cipher } = vector(3 * SLICE + 7);
  const results = await Promise.all([0, 1, 2].map(() => collect(decryptStream(key, chunked(cipher, SLICE / 4, true), 'x'))));
  for (const r of results) assert.ok(r.equals(Buffer.from(plain)));
});
