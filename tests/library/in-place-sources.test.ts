// The Library reads a big Manifest.db in place (sqlite-in-place.ts) through the packed store's blob
// file (or a backup copied into OPFS), opened read-only with a sync access handle that it keeps as long
// as the backup is open. That handle must share the file (the backup engine reads it again for the
// next incremental), and where a browser would take it exclusively (Chromium before 121 ignores
// `mode`), none is kept at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpfsBackupStore } from '../../src/stores/opfs-backup-store.ts';
import { StoreTreeSource } from '../../src/library/source/store-tree-source.ts';
import { MemoryDirectoryHandle, MemoryFileHandle } from '../stores/memory-directory-handle.ts';

const UDID = '00008030-001A2B3C4D5E802E';
const small = { packSize: 256, largeFileThreshold: 100, compactMinDead: 1 };

async function storeWithBigFile(root: MemoryDirectoryHandle, bytes: Uint8Array): Promise<OpfsBackupStore> {
  const store = await OpfsBackupStore.open({ root, estimate: async () => ({ quota: 1e9, usage: 0 }), packed: small });
  const s = await store.openSession(UDID);
  await s.writeFile('Manifest.db', bytes);
  await s.writeFile('Status.plist', new Uint8Array([1, 2, 3]));
  await s.commit();
  return store;
}

test('packed: a blob file read in place is shared with other readers, and a packed file is not offered', async () => {
  const bytes = new Uint8Array(5000).map((_, i) => (i * 31) & 0xff);
  const store = await storeWithBigFile(new MemoryDirectoryHandle(), bytes);
  const source = new StoreTreeSource((await store.current(UDID))!, 'test');
  const file = await source.fileRead('Manifest.db');
  assert.ok(file, 'the blob file is offered for reading in place');
  try {
    assert.equal(file.size, bytes.byteLength);
    const part = new Uint8Array(1000);
    assert.equal(file.read(part, 4000), 1000);
    assert.deepEqual(part, bytes.subarray(4000));
    // The backup engine (another reader) can still stream it meanwhile.
    const again = await source.fileRead('Manifest.db');
    assert.ok(again, 'a second reader gets in');
    again.close();
    const streamed: Uint8Array[] = [];
    for await (const chunk of source.stream('Manifest.db', 1024)) streamed.push(chunk);
    assert.equal(streamed.reduce((n, c) => n + c.byteLength, 0), bytes.byteLength);
  } finally {
    file.close();
  }
  assert.equal(await source.fileRead('Status.plist'), null, 'a small file lives in a pack, which grows: never read in place');
  await store.close();
});

test('packed: where the browser would take the handle exclusively, nothing is read in place and no lock is left', async () => {
  const root = new MemoryDirectoryHandle();
  const store = await storeWithBigFile(root, new Uint8Array(5000).fill(7));
  const source = new StoreTreeSource((await store.current(UDID))!, 'test');
  const withMode = MemoryFileHandle.prototype.createSyncAccessHandle;
  // An old Chromium: `mode` ignored, every handle exclusive.
  MemoryFileHandle.prototype.createSyncAccessHandle = function () {
    return withMode.call(this);
  };
  try {
    assert.equal(await source.fileRead('Manifest.db'), null);
  } finally {
    MemoryFileHandle.prototype.createSyncAccessHandle = withMode;
  }
  const file = await source.fileRead('Manifest.db');
  assert.ok(file, 'the file was left unlocked');
  file.close();
  await store.close();
});

test('a backup copied into OPFS (DirectoryHandleSource): files read in place where sync access exists, shared; none elsewhere', async () => {
  const { DirectoryHandleSource } = await import('../../src/library/source/directory-handle-source.ts');
  type Handle = ConstructorParameters<typeof DirectoryHandleSource>[0];
  const root = new MemoryDirectoryHandle();
  const copy = await root.getDirectoryHandle('00008030-001A2B3C4D5E802E', { create: true });
  const file = (await copy.getFileHandle('Manifest.db', { create: true })) as MemoryFileHandle;
  const writable = await file.createWritable();
  await writable.write(new Uint8Array(3000).fill(9));
  await writable.close();
  const source = new DirectoryHandleSource(root as unknown as Handle);
  const read = await source.fileRead('00008030-001A2B3C4D5E802E/Manifest.db');
  assert.ok(read);
  try {
    assert.equal(read.size, 3000);
    const again = await source.fileRead('00008030-001A2B3C4D5E802E/Manifest.db');
    assert.ok(again, 'shared with another reader');
    again.close();
    await assert.rejects(source.fileRead('00008030-001A2B3C4D5E802E/missing.db'), { name: 'MissingBackupFileError' });
  } finally {
    read.close();
  }
  // A picked folder's handle has no sync access: read through its File instead.
  const withSync = MemoryFileHandle.prototype.createSyncAccessHandle;
  (MemoryFileHandle.prototype as { createSyncAccessHandle?: unknown }).createSyncAccessHandle = undefined;
  try {
    assert.equal(await source.fileRead('00008030-001A2B3C4D5E802E/Manifest.db'), null);
  } finally {
    MemoryFileHandle.prototype.createSyncAccessHandle = withSync;
  }
});
