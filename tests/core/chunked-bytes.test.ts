// A big download is kept in the chunks it arrived into; every read of a range must give the bytes a
// single array would, and no 64 KiB-aligned page may straddle two chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedBytes, ExpectedBytes, readParts } from '../../src/core/chunked-bytes.ts';

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

test('appended pieces of any size come back whole, in chunks aligned to 64 KiB', () => {
  const whole = pattern(5 * 1024 * 1024 + 12345, 7);
  const data = new ChunkedBytes();
  const sizes = [1, 3, 65535, 2, 32768 + 5, 1 << 20, 7];
  for (let at = 0, i = 0; at < whole.byteLength; i++) {
    const n = Math.min(sizes[i % sizes.length]!, whole.byteLength - at);
    data.append(whole.subarray(at, at + n));
    at += n;
  }
  assert.equal(data.byteLength, whole.byteLength);
  const parts = data.parts();
  assert.ok(parts.length > 3, `${parts.length} chunks`);
  for (const part of parts.slice(0, -1)) assert.equal(part.byteLength % 65536, 0);
  assert.deepEqual(data.bytes(), whole);
  for (const [start, end] of [[0, 10], [65530, 65550], [65536, 131072], [100, whole.byteLength], [whole.byteLength - 3, whole.byteLength], [4096 * 33, 4096 * 34]] as const) {
    assert.deepEqual(readParts(parts, start, end), whole.subarray(start, end), `${start}..${end}`);
  }
});

test("a small file's bytes own memory of their size, not a view of a 64 KiB chunk (the phone keeps 1.3M of them)", () => {
  const whole = pattern(3000, 5);
  for (const sizes of [[3000], [1, 2999], [1000, 1000, 1000], [2999, 1]]) {
    const data = new ChunkedBytes();
    for (let at = 0, i = 0; at < whole.byteLength; i++) {
      const n = Math.min(sizes[i]!, whole.byteLength - at);
      data.append(whole.subarray(at, at + n));
      at += n;
    }
    const bytes = data.bytes();
    assert.deepEqual(bytes, whole, `pieces ${sizes}`);
    assert.equal(bytes.buffer.byteLength, 3000, `pieces ${sizes}: buffer of ${bytes.buffer.byteLength} bytes`);
  }
  // A chunk filled exactly is handed over as it is.
  const full = new ChunkedBytes();
  full.append(pattern(65536, 1));
  assert.equal(full.bytes().buffer.byteLength, 65536);
});

test('nothing appended is an empty file', () => {
  const data = new ChunkedBytes();
  assert.equal(data.bytes().byteLength, 0);
  assert.deepEqual(data.parts(), []);
});

test('ExpectedBytes keeps nothing while what arrives is the known bytes, and exactly what arrived once it is not', () => {
  const whole = pattern(300_000, 3);
  const cut = (bytes: Uint8Array, sizes: number[]): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let at = 0, i = 0; at < bytes.byteLength; i++) {
      const n = Math.min(sizes[i % sizes.length]!, bytes.byteLength - at);
      out.push(bytes.subarray(at, at + n));
      at += n;
    }
    return out;
  };
  const join = (parts: readonly Uint8Array[]): Uint8Array => readParts(parts, 0, parts.reduce((n, p) => n + p.byteLength, 0));
  const receive = (known: readonly Uint8Array[], pieces: readonly Uint8Array[]): ExpectedBytes => {
    const expected = new ExpectedBytes(known);
    for (const piece of pieces) expected.append(piece);
    return expected;
  };
  // Arriving at an odd offset into a bigger buffer, so the two sides are never aligned alike.
  const shifted = new Uint8Array(whole.byteLength + 1);
  shifted.set(whole, 1);
  const known = cut(whole, [65536, 7, 100_001]);
  for (const sizes of [[3, 4096 * 5 + 1, 65536], [65536], [1], [300_000]]) {
    const same = receive(known, cut(shifted.subarray(1), sizes));
    assert.ok(same.same, `pieces of ${sizes}`);
    assert.equal(same.parts(), known, 'the known parts themselves: nothing was kept');
    assert.equal(same.byteLength, whole.byteLength);
  }
  const arrived = (expected: ExpectedBytes, bytes: Uint8Array, what: string): void => {
    assert.equal(expected.same, false, what);
    assert.equal(expected.byteLength, bytes.byteLength, what);
    const parts = expected.parts();
    assert.deepEqual(join(parts), bytes, what);
    for (const part of parts.slice(0, -1)) assert.equal(part.byteLength % 65536, 0, what);
  };
  for (const at of [0, 3, 65535, 65536, 65543, 150_001, whole.byteLength - 1]) {
    const changed = whole.slice();
    changed[at]! ^= 0x10;
    arrived(receive(known, cut(changed, [65536 * 2, 5, 333])), changed, `a byte changed at ${at}`);
  }
  arrived(receive(known, cut(whole.subarray(0, whole.byteLength - 1), [65536])), whole.subarray(0, whole.byteLength - 1), 'one byte shorter');
  const longer = new Uint8Array(whole.byteLength + 1);
  longer.set(whole);
  arrived(receive(known, cut(longer, [4096])), longer, 'one byte longer');
  arrived(receive(known, []), new Uint8Array(0), 'nothing arrived');
  assert.ok(receive([], []).same, 'nothing known, nothing arrived');
  assert.ok(receive([new Uint8Array(0)], [new Uint8Array(0)]).same);
});
