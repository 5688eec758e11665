// The packed store and space (issue #10 §4): idle handles closed, quota failures as ENOSPC whatever
// the browser returns, the last backup whole and the store reopenable after one, free space never
// below the store's own bytes, and what the store holds per device and version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PackedBackend } from '../../src/stores/packed/packed-backend.ts';
import { PackedReader } from '../../src/stores/packed/packed-reader.ts';
import { OpfsBackupStore } from '../../src/stores/opfs-backup-store.ts';
import { trustedFreeSpace, trustedUsage } from '../../src/stores/storage-estimate.ts';
import { storageFullError } from '../../src/backup/space-needed.ts';
import { writeWhole } from '../../src/stores/storage-backend.ts';
import { MemoryDirectoryHandle, MemoryFileHandle } from './memory-directory-handle.ts';

const UDID = '00008030-001A2B3C4D5E802E';
const enc = new TextEncoder();
const dec = new TextDecoder();
const packed = { packSize: 4096, largeFileThreshold: 2048, idleCloseMs: 30 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const openHandles = (dir: MemoryDirectoryHandle): string[] =>
  [...dir.children.values()].filter((c): c is MemoryFileHandle => c instanceof MemoryFileHandle && c.locked).map((c) => c.name);

test('idle: every sync access handle closes once the store is idle, and the next use reopens them', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await PackedBackend.open(dir, { freeSpace: async () => 1e12, ...packed });
  await b.mkdirp('a');
  await writeWhole(b, 'a/one', enc.encode('first'));
  await b.flush();
  assert.ok(openHandles(dir).length >= 2, 'journal and pack open while working');
  await sleep(80);
  assert.deepEqual(openHandles(dir), [], 'nothing open while idle (a browser shutdown now loses no count)');
  await writeWhole(b, 'a/two', enc.encode('second'));
  assert.equal(dec.decode(await b.readAll('a/one')), 'first');
  await b.close();
  assert.deepEqual(openHandles(dir), []);
  const again = await PackedBackend.open(dir, { freeSpace: async () => 1e12, ...packed });
  assert.equal(dec.decode(await again.readAll('a/two')), 'second');
  await again.close();
});

test('quota: a write the browser refuses (Chromium returns 0xFFFFFFF8) is ENOSPC; the store reopens at its last flush, the last backup whole', async () => {
  const dir = new MemoryDirectoryHandle();
  let store = await OpfsBackupStore.open({ root: dir, folder: 'backups', packed, estimate: async () => ({ quota: 1e9, usage: 0 }) });
  const backups = dir.children.get('backups') as MemoryDirectoryHandle;
  const first = await store.openSession(UDID);
  for (let i = 0; i < 20; i++) await first.writeFile(`f${i}`, enc.encode(`backup one, file ${i} `.repeat(20)));
  await first.writeFile('Status.plist', enc.encode('status-1'));
  await first.commit();
  assert.ok(store.latestBackupBytes(UDID)! > 20 * 300);

  backups.quota = { left: 3000 };
  const second = await store.openSession(UDID);
  let failure: unknown;
  try {
    for (let i = 0; i < 40; i++) {
      await second.writeFile(`f${i}`, enc.encode(`backup two, file ${i} `.repeat(20)));
      await second.sync();
    }
  } catch (e) {
    failure = e;
  }
  assert.equal((failure as { errno?: string })?.errno, 'ENOSPC', `failed with ${String(failure)}`);
  assert.equal(store.failed, true);
  await assert.rejects(second.sync(), { errno: 'ENOSPC' }, 'every later call says why, with the same errno');
  await store.close();

  // Room again: the store reopens from its files; the last backup is as it was; the staging resumes.
  backups.quota = null;
  store = await OpfsBackupStore.open({ root: dir, folder: 'backups', packed, estimate: async () => ({ quota: 1e9, usage: 0 }) });
  const current = (await store.current(UDID))!;
  assert.equal(dec.decode(await current.readFile('Status.plist')), 'status-1');
  assert.equal(dec.decode(await current.readFile('f3')), 'backup one, file 3 '.repeat(20));
  assert.equal(await store.hasInterruptedBackup(UDID), true, 'what arrived is kept');
  const resumed = await store.openSession(UDID, { resume: true });
  assert.equal(dec.decode(await resumed.readFile('f0')), 'backup two, file 0 '.repeat(20), 'a file flushed before the failure is there');
  for (let i = 0; i < 40; i++) await resumed.writeFile(`f${i}`, enc.encode(`backup two, file ${i} `.repeat(20)));
  await resumed.writeFile('Status.plist', enc.encode('status-2'));
  await resumed.commit();
  assert.equal(dec.decode(await (await store.current(UDID))!.readFile('f39')), 'backup two, file 39 '.repeat(20));
  await store.close();
});

test('quota: a large file streaming into its blob fails with ENOSPC too, and its blob is dropped', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await PackedBackend.open(dir, { freeSpace: async () => 1e12, ...packed });
  await b.mkdirp('d');
  await b.flush();
  dir.quota = { left: 5000 };
  const sink = await b.createFile('d/big');
  await assert.rejects(
    (async () => {
      for (let i = 0; i < 10; i++) await sink.write(new Uint8Array(1000).fill(i));
    })(),
    { errno: 'ENOSPC' },
  );
  await sink.abort();
  dir.quota = null;
  assert.equal([...dir.children.keys()].filter((n) => n.startsWith('blob-')).length, 0);
  await b.close();
});

test('free space: the browser count is raised to what the store holds; a count wrapped below zero is replaced', () => {
  const MB = 1e6;
  // The drift as reported: 4,294,882,810 bytes (2^32 − 84,486) counted for a 4.5 MB store.
  const wrapped = trustedUsage({ quota: 10e9, usage: 4_294_882_810 + 2000, usageDetails: { fileSystem: 4_294_882_810 } }, 4.5 * MB);
  assert.deepEqual(wrapped, { quota: 10e9, usage: 4.5 * MB + 2000, reported: 4_294_882_810 + 2000, correction: 'wrapped' });
  // And the other run's 838 bytes for the same 4.5 MB.
  assert.equal(trustedUsage({ quota: 10e9, usage: 838, usageDetails: { fileSystem: 838 } }, 4.5 * MB).usage, 4.5 * MB);
  assert.equal(trustedUsage({ quota: 10e9, usage: 838, usageDetails: { fileSystem: 838 } }, 4.5 * MB).correction, 'below-store');
  // A true count is left alone, including a large one.
  assert.deepEqual(trustedUsage({ quota: 100e9, usage: 4.2e9, usageDetails: { fileSystem: 4.2e9 } }, 4.1e9), { quota: 100e9, usage: 4.2e9, reported: 4.2e9 });
  assert.equal(trustedFreeSpace({ quota: 10 * MB, usage: 838 }, 9 * MB), 1 * MB);
  assert.equal(trustedFreeSpace({ quota: 1 * MB, usage: 838 }, 9 * MB), 0);
});

test('the store reports what it holds per device, version and staging', async () => {
  const dir = new MemoryDirectoryHandle();
  const store = await OpfsBackupStore.open({ root: dir, folder: 'backups', packed, estimate: async () => ({ quota: 1e9, usage: 0 }) });
  for (const n of [1, 2]) {
    const s = await store.openSession(UDID);
    await s.writeFile('Status.plist', enc.encode(`status-${n}`));
    if (n === 1) await s.writeFile('same', new Uint8Array(1000));
    await s.commit();
  }
  const s = await store.openSession(UDID);
  await s.writeFile('unfinished', new Uint8Array(500));
  await s.sync();
  await s.suspend();
  const reader = await PackedReader.open(dir.children.get('backups') as MemoryDirectoryHandle);
  const held = await reader.footprint();
  assert.equal(held.devices.length, 1);
  const [d] = held.devices;
  assert.equal(d!.udid, UDID);
  assert.equal(d!.current, 1000 + 'status-2'.length);
  assert.equal(store.latestBackupBytes(UDID), d!.current);
  assert.equal(d!.versions.length, 1);
  assert.ok(d!.versions[0]!.bytes >= 'status-1'.length && d!.versions[0]!.bytes < 1000, `the earlier backup holds only what changed (${d!.versions[0]!.bytes})`);
  assert.equal(d!.staging, 500);
  assert.equal(d!.discarded, 0);
  assert.ok(held.onDisk >= held.live && held.live >= d!.current + d!.staging);
  await store.close();
});

test('the store reports an earlier backup past the number kept apart until the next backup deletes it', async () => {
  const dir = new MemoryDirectoryHandle();
  const store = await OpfsBackupStore.open({ root: dir, folder: 'backups', packed, keepVersions: 1, estimate: async () => ({ quota: 1e9, usage: 0 }) });
  const backup = async (n: number): Promise<void> => {
    const s = await store.openSession(UDID);
    await s.writeFile('Status.plist', enc.encode(`status-${n}`));
    if (n === 1) await s.writeFile('same', new Uint8Array(1000));
    await s.commit();
  };
  const footprint = async () => (await (await PackedReader.open(dir.children.get('backups') as MemoryDirectoryHandle)).footprint()).devices[0]!;
  for (const n of [1, 2, 3]) await backup(n);
  const marked = await footprint();
  assert.equal(marked.versions.length, 1, 'the one kept');
  assert.ok(marked.discarded >= 'status-1'.length && marked.discarded < 1000, `the one past the limit, apart (${marked.discarded})`);
  await backup(4);
  const after = await footprint();
  assert.equal(after.versions.length, 1);
  assert.ok(after.discarded >= 'status-2'.length && after.discarded < 1000, 'backup 4 deleted the first; its commit marked the second');
  await store.close();
});

test('the storage-full message says how much room is needed', () => {
  const opfs = { kind: 'opfs' as const };
  const byPercent = storageFullError(opfs, { bytesReceived: 300e6, percent: 25 });
  assert.equal(byPercent.code, 'insufficient-space');
  assert.match(byPercent.message, /about 1,200 MB in all; 300 MB had arrived \(25%\), so it needs about 900 MB more room/);
  assert.match(byPercent.message, /last complete backup is untouched/);
  assert.match(byPercent.action ?? '', /browser gives each site a share/);
  assert.match(storageFullError(opfs, { bytesReceived: 3e6, percent: 0 }, 4.7e6).message, /3 MB of this backup had arrived; the last backup of this device is 4.7 MB, so it needs up to about 1.7 MB more room/);
  assert.match(storageFullError({ kind: 'folder' }, { bytesReceived: 3e6, percent: null }).message, /^The backup drive is full/);
});

test('idle: a writer that let go while idle refuses to go on if another writer changed the store meanwhile', async () => {
  const dir = new MemoryDirectoryHandle();
  const first = await PackedBackend.open(dir, { freeSpace: async () => 1e12, ...packed });
  await writeWhole(first, 'a', enc.encode('from the first'));
  await sleep(80); // idle: handles and lock let go
  const second = await PackedBackend.open(dir, { freeSpace: async () => 1e12, ...packed });
  await writeWhole(second, 'b', enc.encode('from the second'));
  await second.close();
  await assert.rejects(writeWhole(first, 'c', enc.encode('stale')), { name: 'StoreBusyError' });
  assert.ok(first.failed, 'the stale instance must be reopened');
  await first.close();
  const again = await PackedBackend.open(dir, { freeSpace: async () => 1e12, ...packed });
  assert.equal(dec.decode(await again.readAll('a')), 'from the first');
  assert.equal(dec.decode(await again.readAll('b')), 'from the second');
  assert.equal(await again.stat('c'), null);
  await again.close();
});
