import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PackedBackend, type PackedBackendOptions } from '../../src/stores/packed/packed-backend.ts';
import { PackedReader } from '../../src/stores/packed/packed-reader.ts';
import { VersionedBackupStore } from '../../src/stores/versioned-backup-store.ts';
import { OpfsBackupStore } from '../../src/stores/opfs-backup-store.ts';
import { BackupBeingSavedError } from '../../src/stores/errors.ts';
import { writeWhole, type StorageBackend } from '../../src/stores/storage-backend.ts';
import { MemoryDirectoryHandle, MemoryFileHandle } from './memory-directory-handle.ts';

const UDID = '00008030-001A2B3C4D5E802E';
const enc = new TextEncoder();
const dec = new TextDecoder();
const small: Omit<PackedBackendOptions, 'freeSpace'> = { packSize: 256, largeFileThreshold: 100, compactMinDead: 1 };
const open = (dir: MemoryDirectoryHandle, o = small): Promise<PackedBackend> => PackedBackend.open(dir, { freeSpace: async () => 1e12, ...o });
const text = async (b: StorageBackend, path: string): Promise<string> => dec.decode(await b.readAll(path));
/** What a crashed worker leaves: its handles are released, nothing else happens. */
const crash = (dir: MemoryDirectoryHandle): void => dir.releaseLocks();
const file = (dir: MemoryDirectoryHandle, name: string): MemoryFileHandle => dir.children.get(name) as MemoryFileHandle;

test('packed: the journal replays the namespace; small files share packs, large ones get blobs', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await open(dir);
  await b.mkdirp('a/b');
  for (let i = 0; i < 40; i++) await writeWhole(b, `a/b/f${i}`, enc.encode(`small file ${i}`));
  const big = new Uint8Array(1000).map((_, i) => i & 0xff);
  const sink = await b.createFile('a/big');
  for (let at = 0; at < big.byteLength; at += 64) await sink.write(big.subarray(at, at + 64));
  await sink.close();
  await b.rename('a/b/f1', 'a/renamed');
  await b.remove('a/b/f2');
  await b.append('a/log', enc.encode('one\n'));
  await b.append('a/log', enc.encode('two\n'));
  await b.flush();
  const names = [...dir.children.keys()];
  assert.ok(names.filter((n) => n.startsWith('pack-')).length < 10, `40 files in a few packs: ${names.join(' ')}`);
  assert.equal(names.filter((n) => n.startsWith('blob-')).length, 1);
  await b.close();

  const again = await open(dir);
  assert.equal(await text(again, 'a/b/f7'), 'small file 7');
  assert.equal(await text(again, 'a/renamed'), 'small file 1');
  assert.equal(await again.stat('a/b/f1'), null);
  assert.equal(await again.stat('a/b/f2'), null);
  assert.deepEqual(await again.readAll('a/big'), big);
  assert.deepEqual(await again.readRange('a/big', 10, 20), big.subarray(10, 20));
  const streamed: Uint8Array[] = [];
  for await (const chunk of again.read('a/big', 300)) streamed.push(chunk);
  assert.deepEqual(streamed.map((c) => c.byteLength), [300, 300, 300, 100]);
  assert.deepEqual(Buffer.concat(streamed), Buffer.from(big));
  assert.equal(await text(again, 'a/log'), 'one\ntwo\n');
  assert.equal((await again.stat('a/big'))!.size, 1000);
  assert.deepEqual((await again.list('a')).map((e) => `${e.name}:${e.kind}`).sort(), ['b:directory', 'big:file', 'log:file', 'renamed:file']);
  await assert.rejects(again.list('a/big'), { errno: 'ENOTDIR' });
  await assert.rejects(again.list('nope'), { errno: 'ENOENT' });
  await assert.rejects(again.mkdirp('a/big/x'), { errno: 'ENOTDIR' });
  await assert.rejects(again.createFile('missing/x'), { errno: 'ENOENT' });
  // A blob file gone from under the catalogue is a missing file, named, not a browser error.
  const blob = [...dir.children.keys()].find((n) => n.startsWith('blob-'))!;
  dir.children.delete(blob);
  await assert.rejects(async () => {
    for await (const chunk of again.read('a/big', 300)) void chunk;
  }, { errno: 'ENOENT' });
  await again.close();
});

test('packed: a torn journal tail is ignored and cut, and later writes follow the good records', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await open(dir);
  await b.mkdirp('d');
  await writeWhole(b, 'd/kept', enc.encode('kept'));
  await b.close();
  const journal = file(dir, 'journal-0');
  const good = journal.data.byteLength;
  const b2 = await open(dir);
  await writeWhole(b2, 'd/torn', enc.encode('torn'));
  await b2.flush();
  crash(dir);
  // The last record is cut mid-way (an unplug during the write), and one byte of it flipped.
  const torn = journal.data.slice(0, journal.data.byteLength - 3);
  torn[good + 9] = torn[good + 9]! ^ 0xff;
  journal.data = torn;
  const b3 = await open(dir);
  assert.equal(await text(b3, 'd/kept'), 'kept');
  assert.equal(await b3.stat('d/torn'), null);
  assert.ok(journal.data.byteLength <= good + 20, 'the torn tail was cut off');
  await writeWhole(b3, 'd/after', enc.encode('after'));
  await b3.close();
  const b4 = await open(dir);
  assert.equal(await text(b4, 'd/after'), 'after');
  await b4.close();
});

test('packed: snapshots keep replay short; a torn snapshot falls back to the generation before', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await open(dir, { ...small, snapshotAfter: 2000 });
  await b.mkdirp('s');
  for (let i = 0; i < 200; i++) await writeWhole(b, `s/${i}`, enc.encode(`v${i}`));
  await b.close();
  const gens = [...dir.children.keys()].filter((n) => n.startsWith('snapshot-'));
  assert.equal(gens.length, 1, 'older generations are deleted');
  const b2 = await open(dir, { ...small, snapshotAfter: 2000 });
  for (let i = 0; i < 200; i++) assert.equal(await text(b2, `s/${i}`), `v${i}`);
  await b2.close();
  // A newer snapshot cut short (crash while writing it) is ignored; its journal does not exist yet.
  const current = Number(gens[0]!.slice('snapshot-'.length));
  const bogus = await dir.getFileHandle(`snapshot-${current + 1}`, { create: true });
  (bogus as MemoryFileHandle).data = file(dir, gens[0]!).data.slice(0, 50);
  const b3 = await open(dir);
  assert.equal(await text(b3, 's/199'), 'v199');
  assert.equal(dir.children.has(`snapshot-${current + 1}`), false);
  await b3.close();
});

test('packed: directory rename moves the subtree; removing frees packs and blobs, compaction rewrites mostly-dead packs', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await open(dir);
  await b.mkdirp('x/y/z');
  await writeWhole(b, 'x/y/z/f', enc.encode('deep'));
  await b.rename('x/y', 'moved');
  assert.equal(await text(b, 'moved/z/f'), 'deep');
  assert.equal(await b.stat('x/y'), null);
  await assert.rejects(b.rename('moved', 'moved/z/inner'), { errno: 'EINVAL' });

  await b.mkdirp('keep');
  await b.mkdirp('drop');
  // Interleaved, so every pack holds both kinds.
  for (let i = 0; i < 60; i++) {
    await writeWhole(b, `keep/${i}`, enc.encode(`keep-${i}`.padEnd(30, '.')));
    await writeWhole(b, `drop/${i}`, enc.encode(`drop-${i}`.padEnd(30, '.')));
  }
  await writeWhole(b, 'drop/large', new Uint8Array(5000));
  await b.flush();
  // Pack and blob files only: the journal grows by the records of the removal and compaction.
  const dataBytes = (): number =>
    [...dir.children.values()].reduce((n, h) => n + (h.kind === 'file' && /^(pack|blob)-/.test(h.name) ? h.data.byteLength : 0), 0);
  const before = dataBytes();
  await b.remove('drop');
  await b.flush();
  const after = dataBytes();
  assert.equal([...dir.children.keys()].some((n) => n.startsWith('blob-')), false, 'the blob went with its file');
  assert.ok(after < before - 5000 - 1500, `space came back: ${before} → ${after}`);
  const { total, live } = b.packedBytes();
  assert.ok(total <= live * 2 + 256, `packs are mostly live after compaction: ${live}/${total}`);
  for (let i = 0; i < 60; i++) assert.equal((await text(b, `keep/${i}`)).replace(/\.+$/, ''), `keep-${i}`);
  await b.close();
  const again = await open(dir);
  for (let i = 0; i < 60; i++) assert.equal((await text(again, `keep/${i}`)).replace(/\.+$/, ''), `keep-${i}`);
  assert.equal(await text(again, 'moved/z/f'), 'deep');
  await again.close();
});

test('packed: a second writer is refused while the first holds the store', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await open(dir);
  await assert.rejects(open(dir), { name: 'StoreBusyError', errno: 'EACCES' });
  await b.close();
  await (await open(dir)).close();
});

/** The device's usual incremental, as in backup-store.test.ts. */
async function backup(store: VersionedBackupStore, n: number): Promise<void> {
  const s = await store.openSession(UDID);
  await s.writeFile('Snapshot/Status.plist', enc.encode(`status-${n}`));
  await s.writeFile('Snapshot/Manifest.db', enc.encode(`manifest-${n}`));
  await s.writeFile(`Snapshot/ab/file${n}`, enc.encode(`added in ${n}`));
  await s.writeFile('Snapshot/big', new Uint8Array(300).fill(n));
  await s.sync();
  for (const p of ['Status.plist', 'Manifest.db', `ab/file${n}`, 'big']) await s.move(`Snapshot/${p}`, p);
  if (n > 1) await s.remove(`ab/file${n - 1}`);
  await s.remove('Snapshot');
  await s.commit();
}

test('packed: a crash at every step of a commit leaves either the old or the new backup, and reopening finishes it', async () => {
  // Count the backend calls of one incremental commit, then crash after each of them in turn.
  const probe = new MemoryDirectoryHandle();
  const counter = await open(probe);
  await backup(new VersionedBackupStore('opfs', counter), 1);
  let calls = 0;
  const counting = new Proxy(counter, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (['mkdirp', 'createFile', 'rename', 'remove', 'append'].includes(String(prop))) calls++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  await backup(new VersionedBackupStore('opfs', counting), 2);
  await counter.close();
  assert.ok(calls > 10, `an incremental makes ${calls} mutating calls`);

  for (let cut = 0; cut <= calls; cut++) {
    const dir = new MemoryDirectoryHandle();
    const first = await open(dir);
    await backup(new VersionedBackupStore('opfs', first), 1);
    await first.close();
    const doomed = await open(dir);
    let left = cut;
    // The worker dies after `cut` mutating calls: nothing after them reaches the files.
    const dying = new Proxy(doomed, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return async (...args: unknown[]) => {
          if (['mkdirp', 'createFile', 'rename', 'remove', 'append'].includes(String(prop)) && left-- <= 0) throw new Error('worker died');
          return (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    });
    await backup(new VersionedBackupStore('opfs', dying), 2).catch(() => undefined);
    // Whatever was buffered when it died is lost, like a tab that crashed.
    crash(dir);
    const reopened = await open(dir);
    const store = new VersionedBackupStore('opfs', reopened);
    const cur = (await store.current(UDID))!;
    const status = dec.decode(await cur.readFile('Status.plist'));
    if (status === 'status-1') {
      assert.equal(dec.decode(await cur.readFile('ab/file1')), 'added in 1', `cut ${cut}`);
      assert.equal(await cur.stat('ab/file2'), null);
      assert.deepEqual(await cur.readFile('big'), new Uint8Array(300).fill(1));
    } else {
      assert.equal(status, 'status-2', `cut ${cut}`);
      assert.equal(await cur.stat('ab/file1'), null);
      assert.equal(dec.decode(await cur.readFile('ab/file2')), 'added in 2');
      assert.deepEqual(await cur.readFile('big'), new Uint8Array(300).fill(2));
      const [v] = await store.listVersions(UDID);
      const old = await store.openVersion(UDID, v!.id);
      assert.equal(dec.decode(await old.readFile('Status.plist')), 'status-1');
      assert.equal(dec.decode(await old.readFile('ab/file1')), 'added in 1');
    }
    await backup(store, 3);
    assert.equal(dec.decode(await (await store.current(UDID))!.readFile('Status.plist')), 'status-3', `cut ${cut}`);
    await reopened.close();
  }
});

test('packed: a read-only reader sees committed backups while the writer works, never a half-made one', async () => {
  const root = new MemoryDirectoryHandle();
  const writer = await OpfsBackupStore.open({ root, estimate: async () => ({ quota: 1e9, usage: 0 }), packed: small, keepVersions: 1 });
  assert.ok(writer.packed, 'the in-memory OPFS double offers sync access handles');
  await backup(writer, 1);
  const reader = await OpfsBackupStore.openReadOnly({ root });
  assert.deepEqual(await reader.listDevices(), [UDID]);
  const seen = (await reader.current(UDID))!;
  assert.equal(dec.decode(await seen.readFile('Status.plist')), 'status-1');
  await assert.rejects(reader.openSession(UDID), { errno: 'EACCES' });

  // The writer is mid-backup: the reader still sees backup 1.
  const s = await writer.openSession(UDID);
  await s.writeFile('Status.plist', enc.encode('status-2'));
  await s.sync();
  const during = (await reader.current(UDID))!;
  assert.equal(dec.decode(await during.readFile('Status.plist')), 'status-1');
  assert.equal(dec.decode(await during.readRange('Manifest.db', 2, 6)), 'nife');
  // Mid-commit (the switch is written, the roll-forward not finished): a typed error, not a mix.
  const raw = writer.packed!;
  await raw.mkdirp(`.lifeboat/${UDID}`);
  await writeWhole(raw, `.lifeboat/${UDID}/commit.json`, enc.encode('{}'));
  await raw.flush();
  await assert.rejects(reader.current(UDID), BackupBeingSavedError);
  await raw.remove(`.lifeboat/${UDID}/commit.json`);
  await s.commit();
  await backup(writer, 3);
  await backup(writer, 4);
  await writer.packed!.compact();

  const now = (await reader.current(UDID))!;
  assert.equal(dec.decode(await now.readFile('Status.plist')), 'status-4');
  assert.equal(dec.decode(await now.readFile('ab/file4')), 'added in 4');
  const versions = await reader.listVersions(UDID);
  assert.equal(versions.length, 1);
  assert.equal(dec.decode(await (await reader.openVersion(UDID, versions[0]!.id)).readFile('Status.plist')), 'status-3');
  // A tree loaded before the writer compacted or dropped its packs still reads (it refreshes and looks again).
  assert.deepEqual(await seen.readFile('big'), new Uint8Array(300).fill(4));
  await writer.close();
});

test('packed: the reader retries a File snapshot made stale by the writer appending', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await open(dir, { ...small, packSize: 1 << 20 });
  await b.mkdirp('r');
  await writeWhole(b, 'r/a', enc.encode('alpha'));
  await b.flush();
  const reader = await PackedReader.open(dir);
  const pack = [...dir.children.values()].find((h) => h.name.startsWith('pack-')) as MemoryFileHandle;
  // Every getFile() the reader takes goes stale once: the writer appends in between.
  const original = pack.getFile.bind(pack);
  let stale = 0;
  pack.getFile = async () => {
    const f = await original();
    if (stale++ < 2) await writeWhole(b, `r/more${stale}`, enc.encode('more')).then(() => b.flush());
    return f;
  };
  assert.equal(await text(reader, 'r/a'), 'alpha');
  assert.ok(stale >= 2);
  await reader.refresh();
  assert.equal(await text(reader, 'r/more1'), 'more');
  await b.close();
});

test('packed: payload-named files survive compaction, and a read queued behind it finds the moved bytes', async () => {
  const { createHash } = await import('node:crypto');
  const hex = (i: number) => createHash('sha1').update(`f${i}`).digest('hex');
  const dir = new MemoryDirectoryHandle();
  const b = await open(dir);
  await b.mkdirp('keep');
  await b.mkdirp('drop');
  for (let i = 0; i < 40; i++) {
    await writeWhole(b, `keep/${hex(i)}`, enc.encode(`keep-${i}`.padEnd(30, '.')));
    await writeWhole(b, `drop/${hex(i)}`, enc.encode(`drop-${i}`.padEnd(30, '.')));
  }
  await b.flush();
  const packsBefore = [...dir.children.keys()].filter((n) => n.startsWith('pack-')).sort();
  // Both are called before either runs: the read's lookup happens before the compaction moves its file.
  const removal = b.remove('drop');
  const reads = Array.from({ length: 40 }, (_, i) => b.readAll(`keep/${hex(i)}`));
  await removal;
  const texts = (await Promise.all(reads)).map((bytes) => dec.decode(bytes).replace(/\.+$/, ''));
  assert.deepEqual(texts, Array.from({ length: 40 }, (_, i) => `keep-${i}`));
  const packsAfter = [...dir.children.keys()].filter((n) => n.startsWith('pack-')).sort();
  assert.notDeepEqual(packsAfter, packsBefore, 'the compaction moved files into new packs');
  await b.close();
  const again = await open(dir);
  for (let i = 0; i < 40; i++) assert.equal((await text(again, `keep/${hex(i)}`)).replace(/\.+$/, ''), `keep-${i}`);
  assert.equal(await again.stat(`drop/${hex(0)}`), null);
  await again.close();
});

test('packed: a 300k-file catalogue stays compact in memory', async () => {
  const { Catalogue, FileNode } = await import('../../src/stores/packed/catalogue.ts');
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  const c = new Catalogue();
  for (let d = 0; d < 256; d++) c.mkdirp(`${UDID}/${d.toString(16).padStart(2, '0')}`);
  for (let i = 0; i < 300_000; i++) {
    const name = (i * 2654435761).toString(16).padStart(8, '0').repeat(5);
    c.setFile(`${UDID}/${name.slice(0, 2)}/${name}`, new FileNode(i >> 10, (i & 1023) * 4096, 4000, 200_000_000, false), () => undefined);
  }
  globalThis.gc?.();
  const mb = (process.memoryUsage().heapUsed - before) / 1e6;
  assert.ok(mb < 80, `catalogue of 300k files: ${mb.toFixed(0)} MB`);
  console.log(`  300k-file catalogue: ${mb.toFixed(0)} MB of heap`);
  assert.equal(c.stat(`${UDID}/00`)!.kind, 'directory');
});
