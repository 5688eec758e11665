import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandleBackend, type DirHandleLike } from '../../src/stores/handle-backend.ts';
import { PackedBackend } from '../../src/stores/packed/packed-backend.ts';
import { writeWhole, type StorageBackend } from '../../src/stores/storage-backend.ts';
import { MemoryDirectoryHandle } from './memory-directory-handle.ts';

const enc = new TextEncoder();

/** A folder of 3,000 files, a subfolder and a file beside it. */
async function fill(backend: StorageBackend): Promise<void> {
  await backend.mkdirp('d/sub/deeper');
  await backend.mkdirp('big');
  await writeWhole(backend, 'd/file', enc.encode('x'));
  for (let i = 0; i < 3000; i++) await writeWhole(backend, `big/${i.toString(16).padStart(40, '0')}`, enc.encode(String(i)));
}

/** Counts what a handle tree is asked: listings (values) and name lookups. */
function counted(root: MemoryDirectoryHandle): { root: DirHandleLike; calls: { values: number; lookups: number } } {
  const calls = { values: 0, lookups: 0 };
  const wrap = (dir: DirHandleLike): DirHandleLike => ({
    kind: 'directory',
    name: dir.name,
    getDirectoryHandle: async (name, options) => {
      calls.lookups++;
      return wrap(await dir.getDirectoryHandle(name, options));
    },
    getFileHandle: async (name, options) => {
      calls.lookups++;
      return dir.getFileHandle(name, options);
    },
    removeEntry: (name, options) => dir.removeEntry(name, options),
    values: () => {
      calls.values++;
      return dir.values();
    },
  });
  return { root: wrap(root), calls };
}

async function checkAgainstList(backend: StorageBackend): Promise<void> {
  const listed = new Map((await backend.list('d')).map((e) => [e.name, e.kind]));
  assert.deepEqual([...listed].sort(), [['file', 'file'], ['sub', 'directory']]);
  for (const [name, kind] of listed) assert.equal(await backend.entryKind!(`d/${name}`), kind, name);
  assert.equal(await backend.entryKind!('d/sub/deeper'), 'directory');
  assert.equal(await backend.entryKind!('d/missing'), null);
  assert.equal(await backend.entryKind!('d/file/under-a-file'), null);
  assert.equal(await backend.entryKind!('nothing/here'), null);
  assert.equal(await backend.entryKind!('big/' + (2999).toString(16).padStart(40, '0')), 'file');
  assert.equal(await backend.entryKind!('big/' + (3000).toString(16).padStart(40, '0')), null);
}

test('HandleBackend.entryKind gives the kind list() gives, one lookup a name, without listing the folder', async () => {
  const memory = new MemoryDirectoryHandle();
  await fill(new HandleBackend(memory, { freeSpace: async () => 1e12 }));
  const { root, calls } = counted(memory);
  const backend = new HandleBackend(root, { freeSpace: async () => 1e12 });
  await checkAgainstList(backend);
  assert.equal(calls.values, 1, 'only the explicit list() lists');

  // A fresh backend (no cached folders): a name in a folder of 3,000 costs a lookup for the folder and one for the name.
  const fresh = counted(memory);
  const again = new HandleBackend(fresh.root, { freeSpace: async () => 1e12 });
  assert.equal(await again.entryKind('big/' + (7).toString(16).padStart(40, '0')), 'file');
  assert.equal(await again.entryKind('big/' + (8).toString(16).padStart(40, '0')), 'file');
  assert.equal(await again.entryKind('big/not-there'), null);
  assert.deepEqual(fresh.calls, { values: 0, lookups: 4 });
});

test('PackedBackend.entryKind gives the kind list() gives from its catalogue', async () => {
  const backend = await PackedBackend.open(new MemoryDirectoryHandle(), { freeSpace: async () => 1e12, packSize: 1 << 16, largeFileThreshold: 1 << 12, compactMinDead: 1 });
  await fill(backend);
  await checkAgainstList(backend);
  await backend.rename('d/file', 'd/sub/moved');
  assert.equal(await backend.entryKind('d/file'), null);
  assert.equal(await backend.entryKind('d/sub/moved'), 'file');
  await backend.remove('d/sub');
  assert.equal(await backend.entryKind('d/sub'), null);
  assert.equal(await backend.entryKind('d/sub/moved'), null);
  await backend.close();
});
