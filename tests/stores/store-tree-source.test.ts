import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpfsBackupStore } from '../../src/stores/opfs-backup-store.ts';
import { StoreTreeSource } from '../../src/library/source/store-tree-source.ts';
import { MissingBackupFileError } from '../../src/library/errors.ts';
import { MemoryDirectoryHandle } from './memory-directory-handle.ts';

const UDID = '00008030-001A2B3C4D5E802E';
const enc = new TextEncoder();
const dec = new TextDecoder();

test('StoreTreeSource: a packed store backup (current and earlier version) reads like a backup folder', async () => {
  const root = new MemoryDirectoryHandle();
  const store = await OpfsBackupStore.open({ root, estimate: async () => ({ quota: 1e9, usage: 0 }), packed: { packSize: 512, largeFileThreshold: 64 } });
  const payload = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
  for (const n of [1, 2]) {
    const s = await store.openSession(UDID);
    await s.writeFile('Manifest.db', enc.encode(`manifest-${n}`));
    await s.writeFile('3d/3d0d', payload.map((v) => v ^ n));
    await s.commit();
  }
  const reader = await OpfsBackupStore.openReadOnly({ root });
  const current = new StoreTreeSource((await reader.current(UDID))!, 'Lifeboat backups');
  assert.equal(current.label, 'Lifeboat backups');
  assert.deepEqual((await current.list('')).map((e) => `${e.name}:${e.kind}`).sort(), ['3d:directory', 'Manifest.db:file']);
  assert.deepEqual(await current.stat('3d/3d0d'), { kind: 'file', size: 5000 });
  assert.equal(await current.stat('nope'), null);
  assert.equal(dec.decode(await current.readFile('Manifest.db')), 'manifest-2');
  assert.deepEqual(await current.readRange('3d/3d0d', 4000, 4010), payload.subarray(4000, 4010).map((v) => v ^ 2));
  const streamed: number[] = [];
  for await (const chunk of current.stream('3d/3d0d', 1024)) {
    assert.ok(chunk.byteLength <= 1024);
    streamed.push(...chunk);
  }
  assert.deepEqual(Uint8Array.from(streamed), payload.map((v) => v ^ 2));
  await assert.rejects(current.list('missing'), MissingBackupFileError);
  await assert.rejects(current.readFile('missing'), MissingBackupFileError);

  const [version] = await reader.listVersions(UDID);
  const earlier = new StoreTreeSource(await reader.openVersion(UDID, version!.id), 'Lifeboat backups (earlier)');
  assert.equal(dec.decode(await earlier.readFile('Manifest.db')), 'manifest-1');
  assert.deepEqual(await earlier.readRange('3d/3d0d', 0, 4), payload.subarray(0, 4).map((v) => v ^ 1));
  await store.close();
});

test('StoreTreeSource.fileBlob: a large file stored whole comes as its blob file (current and earlier), a packed one as null', async () => {
  const { blobChunks } = await import('../../src/core/blob-chunks.ts');
  const root = new MemoryDirectoryHandle();
  const store = await OpfsBackupStore.open({ root, estimate: async () => ({ quota: 1e9, usage: 0 }), packed: { packSize: 512, largeFileThreshold: 64 } });
  const big = (n: number) => new Uint8Array(3000).map((_, i) => (i * 13 + n) & 0xff);
  for (const n of [1, 2]) {
    const s = await store.openSession(UDID);
    await s.writeFile('Manifest.db', big(n));
    await s.writeFile('Info.plist', enc.encode('small'));
    await s.commit();
  }
  const bytesOf = async (blob: Blob) => {
    const parts: number[] = [];
    for await (const chunk of blobChunks(blob, 1000)) parts.push(...chunk);
    return Uint8Array.from(parts);
  };
  for (const tree of [await store.current(UDID), await (await OpfsBackupStore.openReadOnly({ root })).current(UDID)]) {
    const source = new StoreTreeSource(tree!, 'Lifeboat backups');
    const blob = await source.fileBlob('Manifest.db');
    assert.ok(blob, 'Manifest.db is a blob file');
    assert.deepEqual(await bytesOf(blob), big(2));
    assert.equal(await source.fileBlob('Info.plist'), null, 'packed: read it through stream()');
    await assert.rejects(source.fileBlob('missing'), MissingBackupFileError);
  }
  const [version] = await store.listVersions(UDID);
  const earlier = new StoreTreeSource(await store.openVersion(UDID, version!.id), 'earlier');
  assert.deepEqual(await bytesOf((await earlier.fileBlob('Manifest.db'))!), big(1));
  await store.close();
});

test('a blob file streams the same bytes through a read-only handle (several readers at once) and, while a writer holds it, through a File', async () => {
  const root = new MemoryDirectoryHandle();
  const store = await OpfsBackupStore.open({ root, estimate: async () => ({ quota: 1e9, usage: 0 }), packed: { packSize: 512, largeFileThreshold: 64 } });
  const big = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
  const s = await store.openSession(UDID);
  await s.writeFile('Manifest.db', big);
  await s.commit();
  const source = new StoreTreeSource((await store.current(UDID))!, 'Lifeboat backups');
  const streamed = async (): Promise<Uint8Array> => {
    const parts: Uint8Array[] = [];
    for await (const chunk of source.stream('Manifest.db', 65536)) parts.push(chunk);
    return Uint8Array.from(parts.flatMap((p) => [...p]));
  };
  // Two streams interleaved: each holds a read-only handle on the blob while it runs.
  const [a, b] = await Promise.all([streamed(), streamed()]);
  assert.deepEqual(a, big);
  assert.deepEqual(b, big);
  const files: FileSystemFileHandle[] = [];
  const walk = async (dir: FileSystemDirectoryHandle): Promise<void> => {
    for await (const child of (dir as unknown as { values(): AsyncIterable<FileSystemDirectoryHandle | FileSystemFileHandle> }).values()) {
      if (child.kind === 'directory') await walk(child);
      else if ((await child.getFile()).size === big.byteLength) files.push(child);
    }
  };
  await walk(root as unknown as FileSystemDirectoryHandle);
  assert.equal(files.length, 1, 'one blob file holds it');
  const writer = await files[0]!.createSyncAccessHandle();
  try {
    assert.deepEqual(await streamed(), big, 'read through a File while the blob is locked');
  } finally {
    writer.close();
  }
  await store.deleteDevice(UDID);
  assert.deepEqual(await store.listDevices(), [], 'no reader left a lock behind');
  await store.close();
});
