import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hexOf } from '../../src/core/hex.ts';

function reference(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

test('hexOf gives the lowercase hex of every byte value', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.equal(hexOf(all), reference(all));
  assert.equal(hexOf(new Uint8Array(0)), '');
});

test('hexOf takes a range, and inputs past one fromCharCode call', () => {
  const bytes = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 131 + 7) & 255);
  assert.equal(hexOf(bytes), reference(bytes));
  assert.equal(hexOf(bytes, 4096, 4116), reference(bytes.subarray(4096, 4116)));
  // A short one after a long one: the shared code buffer is cut to length.
  assert.equal(hexOf(bytes, 0, 3), reference(bytes.subarray(0, 3)));
});
