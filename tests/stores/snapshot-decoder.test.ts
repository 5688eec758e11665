import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { crc32 } from '../../src/core/crc32.ts';
import { Catalogue, FileNode } from '../../src/stores/packed/catalogue.ts';
import { decodeFrames, encodeFrame } from '../../src/stores/packed/frame.ts';
import { encodeSnapshotFrame } from '../../src/stores/packed/snapshot-encoder.ts';
import { decodeSnapshotFile } from '../../src/stores/packed/snapshot-decoder.ts';

const id = (i: number): string => createHash('sha1').update(String(i)).digest('hex');
const nothing = (): undefined => undefined;

/** What loadState read before the decoder: the one frame's JSON through fromJSON. */
function reference(bytes: Uint8Array): Catalogue | null {
  const frames = decodeFrames(bytes);
  return frames.values.length === 1 ? Catalogue.fromJSON(frames.values[0]) : null;
}

function oddCatalogue(): Catalogue {
  const catalogue = new Catalogue();
  catalogue.nextId = 2 ** 40 + 3;
  const odd = ['quote "and" apostrophe \'s', 'tab\there\nnewline', 'ünïcödé 📱', 'lone \ud800 surrogate', '\u0001control', id(5).toUpperCase(), `${id(6)}x`, id(7).slice(1)];
  catalogue.mkdirp('U/ab/deep/er');
  catalogue.mkdirp('U/empty');
  // A folder whose name is 40 hex digits is a folder, not a payload file.
  catalogue.mkdirp(`U/${id(9)}/inside`);
  for (const name of odd) catalogue.mkdirp(`U/${name}`);
  odd.forEach((name, i) => catalogue.setFile(`U/ab/${name}`, new FileNode(i, i * 1000, i, -5 - i, i % 2 === 0), nothing));
  catalogue.setFile(`U/ab/${id(3)}`, new FileNode(0, 0, 0, -0, true), nothing);
  catalogue.setFile(`U/ab/${id(4)}`, new FileNode(4_294_967_295, 999_999_999_999_999, 123, -1_700_000_000, false), nothing);
  for (let i = 0; i < 3000; i++) catalogue.setFile(`U/ab/deep/${id(100 + i)}`, new FileNode(7, i * 4096, i, i * 86_400, i % 7 === 0), nothing);
  catalogue.remove(`U/ab/deep/${id(150)}`, nothing);
  catalogue.setFile('U/Manifest.db', new FileNode(3, 0, 7, 0, true), nothing);
  return catalogue;
}

test('a snapshot decodes to the catalogue JSON.parse and fromJSON gave, odd names included', () => {
  const catalogue = oddCatalogue();
  const bytes = encodeSnapshotFrame(catalogue);
  const decoded = decodeSnapshotFile(bytes);
  assert.ok(decoded);
  assert.deepEqual(decoded.toJSON(), reference(bytes)!.toJSON());
  // Through JSON text: the -0 date comes back as 0, as it always did.
  assert.equal(JSON.stringify(decoded.toJSON()), JSON.stringify(catalogue.toJSON()));
  assert.equal(decoded.nextId, 2 ** 40 + 3);
  assert.equal(decoded.entryKind(`U/${id(9)}`), 'directory');
  assert.equal(decoded.stat(`U/ab/deep/${id(107)}`)?.size, 7);
  assert.equal(decoded.list('U/ab/deep').length, 2999 + 1);
  assert.deepEqual(decodeSnapshotFile(encodeSnapshotFrame(new Catalogue()))!.toJSON(), new Catalogue().toJSON());
});

test('numbers and layouts the fast reader does not take go the general way, to the same catalogue', () => {
  const catalogue = oddCatalogue();
  // Past 15 digits, fractions and exponents: written by JSON.stringify, read by JSON.parse.
  catalogue.setFile(`U/ab/${id(1)}`, new FileNode(0, 2 ** 53 + 2, 0.5, -1_700_000_000, true), nothing);
  catalogue.setFile(`U/ab/${id(2)}`, new FileNode(1, 9_007_199_254_740_991, 1e21, 0, false), nothing);
  const bytes = encodeSnapshotFrame(catalogue);
  assert.deepEqual(decodeSnapshotFile(bytes)!.toJSON(), reference(bytes)!.toJSON());
  assert.equal(decodeSnapshotFile(bytes)!.stat(`U/ab/${id(2)}`)?.size, 1e21);
  // Another writer's spacing.
  const spaced = frameOf(JSON.stringify(catalogue.toJSON(), null, 1));
  assert.notEqual(spaced.byteLength, bytes.byteLength);
  assert.deepEqual(decodeSnapshotFile(spaced)!.toJSON(), reference(bytes)!.toJSON());
  // A file entry with a sixth field other than 0 or 1: fromJSON reads it as not a blob.
  const flagged = encodeFrame({ nextId: 1, root: [['U', [[id(1), 1, 2, 3, 4, 7], ['x', 1, 2, 3, 4, 1, 'extra']]]] });
  assert.deepEqual(decodeSnapshotFile(flagged)!.toJSON(), reference(flagged)!.toJSON());
});

test('a torn, corrupt, doubled or non-JSON snapshot is not a snapshot', () => {
  const bytes = encodeSnapshotFrame(oddCatalogue());
  assert.equal(decodeSnapshotFile(bytes.subarray(0, bytes.byteLength - 1)), null, 'torn');
  assert.equal(decodeSnapshotFile(new Uint8Array(0)), null, 'empty');
  const flipped = bytes.slice();
  flipped[100]! ^= 1;
  assert.equal(decodeSnapshotFile(flipped), null, 'checksum');
  const twice = new Uint8Array(bytes.byteLength * 2);
  twice.set(bytes);
  twice.set(bytes, bytes.byteLength);
  assert.equal(decodeSnapshotFile(twice), null, 'two snapshots in one file');
  assert.equal(reference(twice), null);
  // A torn second frame is ignored, as decodeFrames ignores it.
  const tail = new Uint8Array(bytes.byteLength + 5);
  tail.set(bytes);
  assert.ok(decodeSnapshotFile(tail));
  const notJson = encodeFrame('x').slice();
  notJson.set(new TextEncoder().encode('{"'), 8);
  assert.equal(decodeSnapshotFile(notJson), null);
  // Whole frames whose text breaks off or goes on inside the grammar.
  for (const text of ['{"nextId":1,"root":[["a",1,2,3,4,1]', '{"nextId":1,"root":[]}x', '{"nextId":01,"root":[]}', `{"nextId":1,"root":[["${id(1)}",1,2,3,4,1]]}`]) {
    const frame = frameOf(text);
    const expected = reference(frame);
    assert.deepEqual(decodeSnapshotFile(frame)?.toJSON() ?? null, expected?.toJSON() ?? null, text);
  }
});

/** A frame holding `text` as its payload, checksum and all. */
function frameOf(text: string): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.byteLength);
  out.set(json, 8);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.byteLength, true);
  view.setUint32(4, crc32(json), true);
  return out;
}
