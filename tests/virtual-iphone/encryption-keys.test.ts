// The simulated phone keeps each row's MBFile EncryptionKey in one buffer (1.3M keys as typed arrays cost
// ≈260 MB of its worker's heap): what goes in must come out, of any length, and unset rows have none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EncryptionKeys } from '../../src/virtual-iphone/services/mobilebackup2/encryption-keys.ts';

test('keys of 44 bytes and of any other length come back as they were set; unset and cleared rows have none', () => {
  const keys = new EncryptionKeys(5);
  const key = (length: number, seed: number) => new Uint8Array(length).map((_, i) => (i * 7 + seed) & 0xff);
  keys.set(0, key(44, 1));
  keys.set(2, key(44, 2));
  keys.set(3, key(40, 3)); // a host's previous Manifest.db may hold anything
  keys.set(4, key(44, 4));
  assert.deepEqual(keys.get(0), key(44, 1));
  assert.equal(keys.get(1), undefined);
  assert.equal(keys.has(1), false);
  assert.deepEqual(keys.get(2), key(44, 2));
  assert.deepEqual(keys.get(3), key(40, 3));
  assert.equal(keys.has(3), true);
  assert.deepEqual(keys.get(4), key(44, 4), 'the last row, at the end of the buffer');
  // Replacing a key of one kind with the other, or with none.
  keys.set(3, key(44, 9));
  assert.deepEqual(keys.get(3), key(44, 9));
  keys.set(0, key(12, 5));
  assert.deepEqual(keys.get(0), key(12, 5));
  keys.set(2, undefined);
  assert.equal(keys.has(2), false);
  assert.equal(keys.get(2), undefined);
  // A key set is copied: changing the caller's bytes afterwards changes nothing here.
  const mine = key(44, 6);
  keys.set(1, mine);
  mine.fill(0);
  assert.deepEqual(keys.get(1), key(44, 6));
});

test('grown, the keys keep what they held and take rows past the old end', () => {
  const keys = new EncryptionKeys(2);
  keys.set(1, new Uint8Array(44).fill(3));
  keys.set(0, new Uint8Array(7).fill(4));
  assert.throws(() => keys.set(2, new Uint8Array(44)), RangeError);
  keys.grow(10);
  assert.equal(keys.length, 10);
  assert.deepEqual(keys.get(1), new Uint8Array(44).fill(3));
  assert.deepEqual(keys.get(0), new Uint8Array(7).fill(4));
  keys.set(9, new Uint8Array(44).fill(5));
  assert.deepEqual(keys.get(9), new Uint8Array(44).fill(5));
  assert.equal(keys.has(5), false);
});
