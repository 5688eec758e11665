import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandleBackend } from '../../src/stores/handle-backend.ts';
import { OwnedTreeIndex, ReadOnlyTreeIndex } from '../../src/stores/tree-index.ts';
import { writeWhole, type StorageBackend } from '../../src/stores/storage-backend.ts';
import { MemoryDirectoryHandle } from './memory-directory-handle.ts';

/** Counts the backend calls made through it. */
function counting(backend: StorageBackend): { backend: StorageBackend; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(backend, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend: proxy, calls };
}

test('OwnedTreeIndex mirrors adds, moves of subtrees and deletes; load() reads a folder back', async () => {
  const index = new OwnedTreeIndex();
  index.addFile('Snapshot/ab/abc');
  index.addDirectories('Snapshot/cd');
  assert.equal(index.kind('Snapshot'), 'directory');
  assert.equal(index.kind('Snapshot/ab/abc'), 'file');
  assert.equal(index.kind('Snapshot/ab/abc/deeper'), null);
  index.move('Snapshot/ab', 'ab');
  assert.equal(index.kind('ab/abc'), 'file');
  assert.equal(index.kind('Snapshot/ab'), null);
  assert.deepEqual(index.children('Snapshot'), [{ name: 'cd', kind: 'directory' }]);
  index.addFile('ab'); // a file replaces the folder
  assert.equal(index.kind('ab/abc'), null);
  index.delete('Snapshot');
  assert.equal(index.kind('Snapshot/cd'), null);
  index.delete('');
  assert.deepEqual(index.children(''), []);

  const backend = new HandleBackend(new MemoryDirectoryHandle(), { freeSpace: async () => 0 });
  await backend.mkdirp('data/x/y');
  await writeWhole(backend, 'data/x/y/f', new Uint8Array([1]));
  await writeWhole(backend, 'data/g', new Uint8Array([2]));
  const loaded = await OwnedTreeIndex.load(backend, 'data');
  assert.equal(loaded.kind('x/y/f'), 'file');
  assert.equal(loaded.kind('x/y'), 'directory');
  assert.equal(loaded.kind('g'), 'file');
});

test('ReadOnlyTreeIndex answers from one listing per folder and never lists what does not exist', async () => {
  const raw = new HandleBackend(new MemoryDirectoryHandle(), { freeSpace: async () => 0 });
  await raw.mkdirp('U/ab');
  for (let i = 0; i < 50; i++) await writeWhole(raw, `U/ab/f${i}`, new Uint8Array([i]));
  await writeWhole(raw, 'U/Status.plist', new Uint8Array([1]));
  const { backend, calls } = counting(raw);
  const index = new ReadOnlyTreeIndex(backend, 'U');
  for (let i = 0; i < 50; i++) assert.equal(await index.kind(`ab/f${i}`), 'file');
  assert.equal(await index.kind('ab/missing'), null);
  assert.equal(await index.kind('zz/deep/missing'), null);
  assert.equal(await index.kind('Status.plist/child'), null);
  assert.equal(await index.kind(''), 'directory');
  assert.equal(calls.get('list'), 2, 'the root and ab/, each once');
  assert.equal(calls.get('stat'), undefined);
  assert.equal(await new ReadOnlyTreeIndex(raw, 'none').kind(''), null, 'a missing root is no directory');
});

test('ReadOnlyTreeIndex asks a very big folder one path at a time instead of remembering its names', async () => {
  const raw = new HandleBackend(new MemoryDirectoryHandle(), { freeSpace: async () => 0 });
  await raw.mkdirp('U/ab/sub');
  for (let i = 0; i < 2100; i++) await writeWhole(raw, `U/ab/f${i}`, new Uint8Array([1]));
  const { backend, calls } = counting(raw);
  const index = new ReadOnlyTreeIndex(backend, 'U');
  assert.equal(await index.kind('ab/f7'), 'file');
  assert.equal(await index.kind('ab/f2099'), 'file');
  assert.equal(await index.kind('ab/sub'), 'directory');
  assert.equal(await index.kind('ab/missing'), null);
  assert.equal(await index.kind('ab/f7/child'), null);
  assert.equal(calls.get('list'), 2, 'the root and ab/, each once');
  assert.equal(calls.get('stat'), 5, 'each path in ab/ asked on its own (ab/f7 again, as the parent of ab/f7/child)');
  assert.equal((await index.children('ab'))!.length, 2101);
});

test('fileID-named files are kept compact and behave like any other entry: add, replace by a folder, move, delete, list', async () => {
  const { createHash } = await import('node:crypto');
  const { HexNameSet } = await import('../../src/stores/hex-name-set.ts');
  const id = (i: number) => createHash('sha1').update(String(i)).digest('hex');
  const set = new HexNameSet();
  const model = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const name = id(i % 7000);
    if (i % 3 === 2) {
      assert.equal(set.delete(name), model.delete(name));
    } else {
      set.add(name);
      model.add(name);
    }
  }
  assert.equal(set.size, model.size);
  assert.deepEqual([...set.names()].sort(), [...model].sort());
  for (let i = 0; i < 7000; i++) assert.equal(set.has(id(i)), model.has(id(i)));
  assert.equal(HexNameSet.fits(id(1).toUpperCase()), false);
  assert.equal(set.has('not-a-file-id'), false);

  // Names that hash alike (same first 8 digits) probe past each other; churn that leaves only
  // tombstones behind rehashes in place instead of growing without bound.
  const clustered = new HexNameSet();
  const alike = (i: number) => `00000000${id(i).slice(8)}`;
  for (let i = 0; i < 3000; i++) clustered.add(alike(i));
  for (let i = 0; i < 3000; i += 2) assert.equal(clustered.delete(alike(i)), true);
  for (let i = 0; i < 3000; i++) assert.equal(clustered.has(alike(i)), i % 2 === 1, `alike(${i})`);
  const churn = new HexNameSet();
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 500; i++) churn.add(id(round * 500 + i));
    for (let i = 0; i < 500; i++) assert.equal(churn.delete(id(round * 500 + i)), true);
  }
  churn.add(id(1));
  assert.deepEqual([...churn.names()], [id(1)]);
  assert.ok((churn as unknown as { state: Uint8Array }).state.length <= 2048, 'tombstones do not grow the table');

  const index = new OwnedTreeIndex();
  const a = id(1);
  const b = id(2);
  index.addFile(`Snapshot/${a.slice(0, 2)}/${a}`);
  index.addFile(`Snapshot/${a.slice(0, 2)}/Manifest.db`);
  assert.equal(index.kind(`Snapshot/${a.slice(0, 2)}/${a}`), 'file');
  assert.deepEqual(index.children(`Snapshot/${a.slice(0, 2)}`).sort((x, y) => (x.name < y.name ? -1 : 1)), [{ name: a, kind: 'file' }, { name: 'Manifest.db', kind: 'file' }]);
  index.addDirectories(`Snapshot/${a.slice(0, 2)}/${a}`); // a folder replaces the file
  assert.equal(index.kind(`Snapshot/${a.slice(0, 2)}/${a}`), 'directory');
  assert.equal(index.children(`Snapshot/${a.slice(0, 2)}`).filter((e) => e.name === a).length, 1);
  index.addFile(`Snapshot/${a.slice(0, 2)}/${a}`); // and a file the folder again
  assert.equal(index.kind(`Snapshot/${a.slice(0, 2)}/${a}`), 'file');
  index.move(`Snapshot/${a.slice(0, 2)}/${a}`, `xx/${b}`);
  assert.equal(index.kind(`Snapshot/${a.slice(0, 2)}/${a}`), null);
  assert.equal(index.kind(`xx/${b}`), 'file');
  index.delete(`xx/${b}`);
  assert.equal(index.kind(`xx/${b}`), null);
  assert.deepEqual(index.children('xx'), []);
});

test('HexNameSet agrees with a Set of strings over random adds, deletes and lookups, odd names included', async () => {
  const { HexNameSet } = await import('../../src/stores/hex-name-set.ts');
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 12) % n;
  };
  const hex = '0123456789abcdef';
  const pool: string[] = [];
  for (let i = 0; i < 300; i++) pool.push(Array.from({ length: 40 }, () => hex[rand(16)]).join(''));
  // Names the set must never hold: wrong length, upper case, a letter past f, a separator.
  const odd = [`A${pool[0]!.slice(1)}`, pool[1]!.slice(1), `${pool[2]!}0`, `g${pool[3]!.slice(1)}`, `${pool[4]!.slice(0, 39)}/`, '', `${pool[5]!.slice(0, 20)}:${pool[5]!.slice(21)}`];
  const set = new HexNameSet();
  const model = new Set<string>();
  for (let step = 0; step < 20000; step++) {
    const name = rand(10) === 0 ? odd[rand(odd.length)]! : pool[rand(pool.length)]!;
    const op = rand(3);
    if (op === 0) {
      assert.equal(set.add(name), HexNameSet.fits(name), `add ${name} at step ${step}`);
      if (HexNameSet.fits(name)) model.add(name);
    } else if (op === 1) {
      assert.equal(set.delete(name), model.delete(name), `delete ${name} at step ${step}`);
    }
    assert.equal(set.has(name), model.has(name), `has ${name} at step ${step}`);
    assert.equal(set.size, model.size);
  }
  assert.deepEqual([...set.names()].sort(), [...model].sort());
  for (const name of odd) assert.equal(HexNameSet.fits(name), false, name);
});

test('normalizePath gives what splitPath gives (or refuses what it refuses) for any path', async () => {
  const { normalizePath, splitPath } = await import('../../src/stores/paths.ts');
  let seed = 11;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 12) % n;
  };
  const pieces = ['a', 'bc', '.', '..', '...', '/', '//', '\\', '\0', 'x.y', '.z', ''];
  for (let i = 0; i < 20000; i++) {
    const path = Array.from({ length: rand(7) }, () => pieces[rand(pieces.length)]).join('');
    let expected: string | Error;
    try {
      expected = splitPath(path).join('/');
    } catch (e) {
      expected = e as Error;
    }
    if (expected instanceof Error) assert.throws(() => normalizePath(path), JSON.stringify(path));
    else assert.equal(normalizePath(path), expected, JSON.stringify(path));
  }
});

test('ReadOnlyTreeIndex on a backend with a synchronous stat asks a folder path by path until asked often, and lists nothing for a sparse or a busy incremental', async () => {
  const raw = new HandleBackend(new MemoryDirectoryHandle(), { freeSpace: async () => 0 });
  await raw.mkdirp('U/ab/sub');
  await raw.mkdirp('U/cd');
  for (let i = 0; i < 3000; i++) await writeWhole(raw, `U/ab/f${i}`, new Uint8Array([1]));
  for (let i = 0; i < 100; i++) await writeWhole(raw, `U/cd/g${i}`, new Uint8Array([1]));
  await writeWhole(raw, 'U/Status.plist', new Uint8Array([1]));
  // The Node backend's synchronous stat, over the same tree.
  const files = new Map<string, 'file' | 'directory'>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await raw.list(dir)) {
      files.set(`${dir}/${e.name}`, e.kind);
      if (e.kind === 'directory') await walk(`${dir}/${e.name}`);
    }
  };
  await walk('U');
  files.set('U', 'directory');
  const withStat = Object.assign(Object.create(raw) as StorageBackend, { statKindNow: (path: string) => files.get(path) ?? null });
  const { backend, calls } = counting(withStat);
  const index = new ReadOnlyTreeIndex(backend, 'U');

  // Forty paths in a big folder (what one incremental moves into each xx/ folder): asked one by one, nothing listed.
  for (let i = 0; i < 40; i++) assert.equal(index.kindNow(`ab/f${i * 7}`), 'file');
  assert.equal(await index.kind('ab/sub'), 'directory');
  assert.equal(await index.kind('ab/missing'), null);
  assert.equal(await index.kind('ab/f7/child'), null);
  assert.equal(calls.get('list'), undefined, 'no folder listed');
  assert.equal(calls.get('statKindNow'), 1 + 43, 'ab/ itself once, then each path');

  // Two hundred paths in the big folder (a backup that changes a lot): still one by one.
  for (let i = 0; i < 200; i++) assert.equal(index.kindNow(`ab/f${i * 13}`), 'file');
  assert.equal(calls.get('list'), undefined, 'no folder listed');
  assert.equal(calls.get('statKindNow'), 1 + 243);
  // A folder the current backup lacks (the device's Snapshot/xx) costs one stat however often it is asked.
  for (let i = 0; i < 1000; i++) assert.equal(index.kindNow(`Snapshot/ab/f${i}`), null);
  assert.equal(calls.get('statKindNow'), 1 + 243 + 1);

  // A folder asked about often is listed once; then it answers from memory.
  for (let round = 0; round < 6; round++) for (let i = 0; i < 100; i++) assert.equal(await index.kind(`cd/g${i}`), 'file');
  assert.equal(await index.kind('cd/missing'), null);
  assert.equal(calls.get('list'), 1, 'cd/ once');
  assert.equal(calls.get('statKindNow'), 1 + 243 + 1 + 1 + 512 + 1, "cd/ itself, its paths one by one 512 times, then cd for the listing's parent check");
  // Under a path the root's listing says is no folder, nothing is asked at all.
  assert.equal((await index.children(''))!.length, 3);
  const before = calls.get('statKindNow');
  assert.equal(index.kindNow('Status.plist/x'), null);
  assert.equal(index.kindNow('zz/y'), null);
  assert.equal(calls.get('statKindNow'), before);
  assert.equal((await index.children('ab'))!.length, 3001);
  // A folder the root's listing names as one is not asked again: its first path costs one stat.
  const fresh = new ReadOnlyTreeIndex(backend, 'U');
  await fresh.children('');
  const listed = calls.get('statKindNow')!;
  assert.equal(fresh.kindNow('ab/f1'), 'file');
  assert.equal(calls.get('statKindNow'), listed + 1);
});
