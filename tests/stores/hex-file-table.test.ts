import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HexFileTable } from '../../src/stores/packed/hex-file-table.ts';
import { Catalogue, DirNode, FileNode, type Extent } from '../../src/stores/packed/catalogue.ts';

const id = (i: number): string => createHash('sha1').update(String(i)).digest('hex');
const fields = (f: FileNode | undefined) => (f ? [f.store, f.offset, f.size, f.mtime, f.blob] : undefined);

test('HexFileTable agrees with a Map under adds, replacements and deletes, and hands out copies', () => {
  const table = new HexFileTable();
  const model = new Map<string, FileNode>();
  for (let i = 0; i < 30_000; i++) {
    const name = id(i % 5000);
    if (i % 4 === 3) {
      assert.equal(table.delete(name), model.delete(name));
      continue;
    }
    // Offsets past 4 GiB, sizes past 2^32, dates before 1970: all must come back exactly.
    const file = new FileNode(i, i * 2 ** 33, i * 7 + 2 ** 32, -1_600_000_000 + i, i % 5 === 0);
    table.set(name, file);
    model.set(name, file);
  }
  assert.equal(table.size, model.size);
  for (let i = 0; i < 5000; i++) assert.deepEqual(fields(table.get(id(i))), fields(model.get(id(i))), id(i));
  const listed = new Map([...table.entries()].map(([name, f]) => [name, fields(f)]));
  assert.deepEqual(listed, new Map([...model].map(([name, f]) => [name, fields(f)])));
  assert.equal([...table.values()].length, model.size);
  const recorded: string[] = [];
  table.forEachRecord((keys, at) => recorded.push(Buffer.from(keys.subarray(at, at + 20)).toString('hex')));
  assert.deepEqual(recorded.sort(), [...model.keys()].sort());

  const some = [...model.keys()][0]!;
  assert.notEqual(table.get(some), table.get(some), 'a copy per lookup');
  assert.equal(table.get(some.toUpperCase()), undefined);
  assert.equal(table.has('Manifest.db'), false);
  assert.throws(() => table.set('Manifest.db', new FileNode(1, 0, 1, 0, false)), RangeError);

  // Names alike in their first 8 digits (the hash) still find each other; churn reuses records.
  const clustered = new HexFileTable();
  const alike = (i: number) => `00000000${id(i).slice(8)}`;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 2000; i++) clustered.set(alike(i), new FileNode(round, i, i, 0, false));
    for (let i = 0; i < 2000; i += 2) clustered.delete(alike(i));
  }
  assert.equal(clustered.size, 1000);
  assert.deepEqual(fields(clustered.get(alike(1))), [4, 1, 1, 0, false]);
  assert.equal(clustered.get(alike(0)), undefined);
  const before = clustered.byteLength;
  for (let i = 0; i < 2000; i += 2) clustered.set(alike(i), new FileNode(9, i, i, 0, false));
  assert.equal(clustered.byteLength, before, 'deleted records are used again before the table grows');
  clustered.clear();
  assert.equal(clustered.size, 0);
  assert.equal(clustered.get(alike(1)), undefined);
});

test('a folder keeps payload files in its table and everything else by name; a name moves between them', () => {
  const dir = new DirNode();
  const hex = id(1);
  dir.children.set('Manifest.db', new FileNode(1, 0, 10, 0, false));
  dir.children.set(hex, new FileNode(2, 5, 20, 0, false));
  assert.equal(dir.children.size, 2);
  assert.ok(dir.children.tableBytes > 0, 'the payload file went to the table');
  // A folder named like a payload is still a folder.
  dir.children.set(hex, new DirNode());
  assert.ok(dir.children.get(hex) instanceof DirNode);
  assert.equal(dir.children.size, 2);
  dir.children.set(hex, new FileNode(3, 0, 1, 0, true));
  assert.deepEqual(fields(dir.children.get(hex) as FileNode), [3, 0, 1, 0, true]);
  assert.equal(dir.children.size, 2);
  assert.deepEqual([...dir.children].map(([name]) => name).sort(), ['Manifest.db', hex].sort());
  assert.equal([...dir.children.values()].length, 2);
  assert.equal(dir.children.delete(hex), true);
  assert.equal(dir.children.has(hex), false);
  assert.equal(dir.children.delete(hex), false);
  dir.children.clear();
  assert.equal(dir.children.size, 0);
});

test('the catalogue over tables: rename onto itself releases nothing, onto another file releases it once; snapshots round-trip', () => {
  const catalogue = new Catalogue();
  catalogue.mkdirp('U/ab');
  catalogue.mkdirp('U/cd');
  const released: Extent[] = [];
  const release = (e: Extent) => released.push(e);
  const [a, b] = [id(10), id(11)];
  catalogue.setFile(`U/ab/${a}`, new FileNode(1, 0, 100, 5, false), release);
  catalogue.setFile(`U/cd/${b}`, new FileNode(2, 0, 200, 6, false), release);
  catalogue.rename(`U/ab/${a}`, `U/ab/${a}`, release);
  assert.deepEqual(released, []);
  assert.equal(catalogue.stat(`U/ab/${a}`)?.size, 100);
  catalogue.rename(`U/ab/${a}`, `U/cd/${b}`, release);
  assert.deepEqual(released, [new FileNode(2, 0, 200, 6, false)]);
  assert.equal(catalogue.stat(`U/cd/${b}`)?.size, 100);
  assert.equal(catalogue.entryKind(`U/ab/${a}`), null);
  catalogue.setFile('U/Manifest.db', new FileNode(3, 0, 7, 0, true), release);

  const reopened = Catalogue.fromJSON(JSON.parse(JSON.stringify(catalogue.toJSON())));
  assert.deepEqual([...reopened.files()].map(([p, f]) => [p, fields(f)]).sort(), [...catalogue.files()].map(([p, f]) => [p, fields(f)]).sort());
  assert.deepEqual(reopened.list('U/cd'), [{ name: b, kind: 'file' }]);

  catalogue.remove('U', release);
  assert.equal(released.length, 3, 'the replaced file before, now the moved one and Manifest.db');
});

test('100k payload files cost the JS heap almost nothing and under 100 bytes each in tables', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const measure = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed, buffers: m.arrayBuffers };
  };
  const before = measure();
  const catalogue = new Catalogue();
  for (let p = 0; p < 256; p++) catalogue.mkdirp(`U/${p.toString(16).padStart(2, '0')}`);
  for (let i = 0; i < 100_000; i++) {
    const name = id(i);
    catalogue.setFile(`U/${name.slice(0, 2)}/${name}`, new FileNode(1 + (i >> 12), i * 512, 300, 1000, false), () => undefined);
  }
  const after = measure();
  const heapPerFile = (after.heap - before.heap) / 100_000;
  const tablePerFile = (after.buffers - before.buffers) / 100_000;
  assert.ok(heapPerFile < 10, `JS heap ${heapPerFile.toFixed(1)} B a file`);
  assert.ok(tablePerFile > 40 && tablePerFile < 100, `tables ${tablePerFile.toFixed(1)} B a file`);
  assert.equal(catalogue.list('U/00').length > 0, true);
});

test('the snapshot encoder writes exactly the bytes of encodeFrame(toJSON()), odd names and numbers included', async () => {
  const { encodeFrame, decodeFrames } = await import('../../src/stores/packed/frame.ts');
  const { encodeSnapshotFrame } = await import('../../src/stores/packed/snapshot-encoder.ts');
  const catalogue = new Catalogue();
  catalogue.nextId = 2 ** 40 + 3;
  const odd = ['quote "and" apostrophe \'s', 'tab\there\nnewline', 'ünïcödé 📱', 'lone \ud800 surrogate', '\u0001control', id(5).toUpperCase()];
  catalogue.mkdirp('U/ab/deep/er');
  for (const name of odd) catalogue.mkdirp(`U/${name}`);
  const nothing = () => undefined;
  odd.forEach((name, i) => catalogue.setFile(`U/ab/${name}`, new FileNode(i, i * 1000, i, -5 - i, i % 2 === 0), nothing));
  // Numbers JSON writes in other forms: past 2^53, fractions, negative, zero.
  catalogue.setFile(`U/ab/${id(1)}`, new FileNode(0, 2 ** 53 + 2, 0.5, -1_700_000_000, true), nothing);
  catalogue.setFile(`U/ab/${id(2)}`, new FileNode(4_294_967_295, 9_007_199_254_740_991, 1e21, 0, false), nothing);
  for (let i = 0; i < 3000; i++) catalogue.setFile(`U/ab/deep/${id(100 + i)}`, new FileNode(7, i * 4096, i, i * 86_400, false), nothing);
  catalogue.remove(`U/ab/deep/${id(150)}`, nothing);
  const streamed = encodeSnapshotFrame(catalogue);
  const reference = encodeFrame(catalogue.toJSON());
  assert.equal(streamed.byteLength, reference.byteLength);
  assert.ok(Buffer.from(streamed).equals(Buffer.from(reference)), 'same bytes');
  const reopened = Catalogue.fromJSON(decodeFrames(streamed).values[0]);
  assert.equal(reopened.nextId, 2 ** 40 + 3);
  assert.equal(reopened.list('U/ab/deep').length, 2999 + 1);
  assert.deepEqual(encodeSnapshotFrame(new Catalogue()), encodeFrame(new Catalogue().toJSON()));
});
