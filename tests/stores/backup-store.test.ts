import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFsBackend } from '../../src/stores/node/node-fs-backend.ts';
import { HandleBackend } from '../../src/stores/handle-backend.ts';
import { VersionedBackupStore } from '../../src/stores/versioned-backup-store.ts';
import { OpfsBackupStore } from '../../src/stores/opfs-backup-store.ts';
import { FolderBackupStore, FOLDER_REPORTED_FREE_SPACE } from '../../src/stores/folder-backup-store.ts';
import { openStoreBackup } from '../../src/stores/open-backup.ts';
import type { BackupTree } from '../../src/stores/backup-store.ts';
import type { StorageBackend } from '../../src/stores/storage-backend.ts';
import { MemoryDirectoryHandle } from './memory-directory-handle.ts';
import { StoreError } from '../../src/stores/errors.ts';
import { PackedBackend } from '../../src/stores/packed/packed-backend.ts';

const UDID = '00008030-001A2B3C4D5E802E';
const enc = new TextEncoder();
const dec = new TextDecoder();
const text = async (tree: BackupTree, path: string): Promise<string> => dec.decode(await tree.readFile(path));

interface Fixture {
  backend: StorageBackend;
  make(options?: { keepVersions?: number }): VersionedBackupStore;
  cleanup(): Promise<void>;
}

const fixtures: Record<string, () => Promise<Fixture>> = {
  'node fs': async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-store-'));
    const backend = new NodeFsBackend(dir);
    return { backend, make: (o) => new VersionedBackupStore('node-fs', backend, o), cleanup: () => rm(dir, { recursive: true, force: true }) };
  },
  'directory handle (in-memory)': async () => {
    const root = new MemoryDirectoryHandle();
    const backend = new HandleBackend(root, { freeSpace: async () => 1e12 });
    return { backend, make: (o) => new VersionedBackupStore('opfs', backend, o), cleanup: async () => undefined };
  },
  // Tiny packs and a tiny large-file threshold, so rolls, blobs and pack deletion all happen here.
  'packed (in-memory OPFS)': async () => {
    const backend = await PackedBackend.open(new MemoryDirectoryHandle(), { freeSpace: async () => 1e12, packSize: 64, largeFileThreshold: 12 });
    return { backend, make: (o) => new VersionedBackupStore('opfs', backend, o), cleanup: () => backend.close() };
  },
};

/** A backend that fails every rename after the first `budget` ones, to cut a commit short. */
function failingAfter(backend: StorageBackend, budget: number): StorageBackend {
  let left = budget;
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === 'rename') {
        return async (from: string, to: string) => {
          if (left-- <= 0) throw new Error('unplugged');
          return target.rename(from, to);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function firstBackup(store: VersionedBackupStore): Promise<void> {
  const s = await store.openSession(UDID);
  await s.writeFile('Status.plist', enc.encode('status-1'));
  await s.writeFile('Manifest.db', enc.encode('manifest-1'));
  await s.writeFile('ab/abc1', enc.encode('old content'));
  await s.writeFile('cd/cd22', enc.encode('to be deleted'));
  await s.writeFile('ef/ef33', enc.encode('unchanged'));
  await s.commit();
}

/** The device's usual incremental: upload into Snapshot/, move into place, remove, drop Snapshot. */
async function incrementalBackup(store: VersionedBackupStore): Promise<void> {
  const s = await store.openSession(UDID);
  assert.equal(await text(s, 'Status.plist'), 'status-1', 'the device reads the last Status.plist through the view');
  await s.mkdirp('Snapshot/ab');
  await s.writeFile('Snapshot/ab/abc1', enc.encode('new content'));
  await s.writeFile('Snapshot/ab/abc9', enc.encode('brand new'));
  await s.writeFile('Snapshot/Manifest.db', enc.encode('manifest-2'));
  await s.writeFile('Snapshot/Status.plist', enc.encode('status-2'));
  await s.sync();
  await s.move('Snapshot/ab/abc1', 'ab/abc1');
  await s.move('Snapshot/ab/abc9', 'ab/abc9');
  await s.move('Snapshot/Manifest.db', 'Manifest.db');
  await s.move('Snapshot/Status.plist', 'Status.plist');
  await s.remove('cd/cd22');
  await s.remove('Snapshot');
  await s.commit();
}

for (const [name, setup] of Object.entries(fixtures)) {
  test(`${name}: commit publishes a Finder-layout backup; versions keep the previous one, sharing unchanged files`, async () => {
    const f = await setup();
    try {
      const store = f.make();
      assert.equal(await store.current(UDID), null);
      await firstBackup(store);
      const cur1 = (await store.current(UDID))!;
      assert.equal(await text(cur1, 'ab/abc1'), 'old content');
      assert.deepEqual(await store.listDevices(), [UDID]);
      assert.deepEqual(await store.listVersions(UDID), [], 'no version before the first backup');
      // The device folder on the backend is the plain layout other tools read.
      assert.equal(dec.decode(await f.backend.readAll(`${UDID}/ef/ef33`)), 'unchanged');

      await incrementalBackup(store);
      const cur = (await store.current(UDID))!;
      assert.equal(await text(cur, 'ab/abc1'), 'new content');
      assert.equal(await text(cur, 'ab/abc9'), 'brand new');
      assert.equal(await text(cur, 'Status.plist'), 'status-2');
      assert.equal(await cur.stat('cd/cd22'), null);
      assert.equal(await cur.stat('Snapshot'), null);

      const versions = await store.listVersions(UDID);
      assert.equal(versions.length, 1);
      const old = await store.openVersion(UDID, versions[0]!.id);
      assert.equal(await text(old, 'ab/abc1'), 'old content');
      assert.equal(await text(old, 'cd/cd22'), 'to be deleted');
      assert.equal(await text(old, 'ef/ef33'), 'unchanged');
      assert.equal(await text(old, 'Status.plist'), 'status-1');
      assert.equal(await old.stat('ab/abc9'), null, 'files added later are hidden in the old version');
      assert.deepEqual((await old.list('ab')).map((e) => e.name), ['abc1']);
      // Shared, not copied: the version holds only what changed.
      assert.equal(await f.backend.stat(`.lifeboat/${UDID}/versions/${versions[0]!.id}/files/ef/ef33`), null);
      assert.ok(await f.backend.stat(`.lifeboat/${UDID}/versions/${versions[0]!.id}/files/ab/abc1`));
    } finally {
      await f.cleanup();
    }
  });

  test(`${name}: an interrupted backup leaves the previous one intact, and can be resumed or discarded`, async () => {
    const f = await setup();
    try {
      const store = f.make();
      await firstBackup(store);
      const s = await store.openSession(UDID);
      await s.writeFile('Snapshot/ab/abc1', enc.encode('half way'));
      await s.remove('ef/ef33');
      await s.sync();
      const sink = await s.createFile('Snapshot/partial');
      await sink.write(enc.encode('torn'));
      // Unplug: the session object is simply abandoned (no commit, no close).
      const reopened = f.make();
      assert.ok(await reopened.hasInterruptedBackup(UDID));
      const cur = (await reopened.current(UDID))!;
      assert.equal(await text(cur, 'ef/ef33'), 'unchanged');
      assert.equal(await text(cur, 'ab/abc1'), 'old content');
      assert.equal(await cur.stat('Snapshot'), null);

      const resumed = await reopened.openSession(UDID, { resume: true });
      assert.equal(await text(resumed, 'Snapshot/ab/abc1'), 'half way');
      assert.equal(await resumed.stat('ef/ef33'), null, 'whiteouts survive the unplug');
      assert.equal(await resumed.stat('Snapshot/partial'), null, 'a file cut short never appears');
      await resumed.suspend();

      const fresh = await reopened.openSession(UDID);
      assert.equal(await fresh.stat('Snapshot'), null, 'without resume the staging is discarded');
      assert.equal(await text(fresh, 'ef/ef33'), 'unchanged');
      await fresh.discard();
      assert.equal(await reopened.hasInterruptedBackup(UDID), false);
    } finally {
      await f.cleanup();
    }
  });

  test(`${name}: an unplug anywhere inside commit is finished by the next open`, async () => {
    for (let budget = 0; budget < 12; budget++) {
      const f = await setup();
      try {
        await firstBackup(f.make());
        const flaky = new VersionedBackupStore('node-fs', failingAfter(f.backend, budget));
        let failed = false;
        try {
          await incrementalBackup(flaky);
        } catch {
          failed = true;
        }
        const store = f.make();
        const cur = (await store.current(UDID))!;
        const status = await text(cur, 'Status.plist');
        if (status === 'status-1') {
          // Cut before the switch: the previous backup is exactly as it was.
          assert.ok(failed);
          assert.equal(await text(cur, 'ab/abc1'), 'old content');
          assert.equal(await text(cur, 'cd/cd22'), 'to be deleted');
          assert.deepEqual(await store.listVersions(UDID), []);
        } else {
          assert.equal(status, 'status-2', `budget ${budget}`);
          assert.equal(await text(cur, 'ab/abc1'), 'new content');
          assert.equal(await cur.stat('cd/cd22'), null);
          const [v] = await store.listVersions(UDID);
          const old = await store.openVersion(UDID, v!.id);
          assert.equal(await text(old, 'ab/abc1'), 'old content');
          assert.equal(await text(old, 'cd/cd22'), 'to be deleted');
          assert.equal(await old.stat('ab/abc9'), null);
        }
        assert.equal(await text(cur, 'ef/ef33'), 'unchanged');
        // And the next backup goes through.
        const s = await store.openSession(UDID);
        await s.writeFile('Status.plist', enc.encode('status-3'));
        await s.commit();
        assert.equal(await text((await store.current(UDID))!, 'Status.plist'), 'status-3');
      } finally {
        await f.cleanup();
      }
    }
  });

  test(`${name}: move replaces trees, remove is recursive, copy copies trees, bad paths are refused`, async () => {
    const f = await setup();
    try {
      const store = f.make();
      await firstBackup(store);
      const s = await store.openSession(UDID);
      await s.writeFile('x/dir/one', enc.encode('1'));
      await s.writeFile('x/dir/sub/two', enc.encode('2'));
      await s.copy('x/dir', 'y');
      assert.equal(await text(s, 'y/sub/two'), '2');
      await s.move('x/dir', 'ab'); // replaces the current folder ab/ (which held abc1)
      assert.equal(await s.stat('ab/abc1'), null);
      assert.equal(await text(s, 'ab/one'), '1');
      await s.move('ef/ef33', 'moved'); // from the previous backup: copied, previous untouched
      assert.equal(await text(s, 'moved'), 'unchanged');
      assert.equal(await s.stat('ef/ef33'), null);
      await assert.rejects(s.move('nope', 'x'), { errno: 'ENOENT' });
      // A staged file over one of the previous backup, moved away: the old file does not show again.
      await s.writeFile('cd/cd22', enc.encode('rewritten'));
      await s.move('cd/cd22', 'cd/cd23');
      assert.equal(await s.stat('cd/cd22'), null);
      assert.equal(await text(s, 'cd/cd23'), 'rewritten');
      await s.remove('y');
      await s.remove('never');
      assert.equal(await s.stat('y/sub/two'), null);
      await assert.rejects(s.writeFile('../escape', enc.encode('x')), { errno: 'EINVAL' });
      await assert.rejects(s.mkdirp('moved/sub'), { errno: 'ENOTDIR' });
      assert.equal(await text((await store.current(UDID))!, 'ef/ef33'), 'unchanged');
      await s.commit();
      const cur = (await store.current(UDID))!;
      assert.deepEqual((await cur.list('ab')).map((e) => e.name).sort(), ['one', 'sub']);
      assert.equal(await cur.stat('ef/ef33'), null);
      assert.equal(await text(cur, 'moved'), 'unchanged');
      assert.deepEqual((await cur.list('cd')).map((e) => e.name), ['cd23']);
      const [v] = await store.listVersions(UDID);
      const old = await store.openVersion(UDID, v!.id);
      assert.equal(await text(old, 'ab/abc1'), 'old content');
      assert.equal(await text(old, 'cd/cd22'), 'to be deleted');
      assert.equal(await old.stat('cd/cd23'), null);
      assert.equal(await old.stat('ab/one'), null);
      assert.equal(await text(old, 'ef/ef33'), 'unchanged');
    } finally {
      await f.cleanup();
    }
  });

  test(`${name}: only the newest versions are kept`, async () => {
    const f = await setup();
    try {
      const store = f.make({ keepVersions: 2 });
      for (let i = 1; i <= 5; i++) {
        const s = await store.openSession(UDID);
        await s.writeFile('Status.plist', enc.encode(`status-${i}`));
        await s.commit();
      }
      const versions = await store.listVersions(UDID);
      assert.equal(versions.length, 2);
      assert.equal(await text(await store.openVersion(UDID, versions[0]!.id), 'Status.plist'), 'status-4');
      assert.equal(await text(await store.openVersion(UDID, versions[1]!.id), 'Status.plist'), 'status-3');
      // The commit only marks the oldest; the next session deletes it while the device prepares.
      const folders = async () => (await f.backend.list(`.lifeboat/${UDID}/versions`)).map((e) => e.name).sort();
      const oldest = (await folders())[0]!;
      assert.deepEqual(await folders(), [oldest, ...versions.map((v) => v.id).reverse()]);
      assert.ok(await f.backend.stat(`.lifeboat/${UDID}/versions/${oldest}/discarded`));
      const s = await store.openSession(UDID);
      await s.writeFile('Status.plist', enc.encode('status-6'));
      await s.commit();
      const after = await folders();
      assert.equal(after.length, 3, 'one kept version more was marked by this commit');
      assert.ok(!after.includes(oldest), 'the marked version was deleted during the session');
      assert.equal((await store.listVersions(UDID)).length, 2);
    } finally {
      await f.cleanup();
    }
  });

  test(`${name}: a discarded version whose deletion was cut short stays hidden and is deleted later`, async () => {
    const f = await setup();
    try {
      let unplugged = true;
      const flaky = new Proxy(f.backend, {
        get(target, prop, receiver) {
          if (prop === 'remove') {
            return async (path: string) => {
              if (unplugged && path.includes('/versions/') && path.endsWith('/files')) throw new Error('unplugged');
              return target.remove(path);
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const store = new VersionedBackupStore(f.make().kind, flaky, { keepVersions: 1 });
      await firstBackup(store);
      await incrementalBackup(store);
      const [first] = await store.listVersions(UDID);
      const s = await store.openSession(UDID);
      await s.writeFile('Status.plist', enc.encode('status-3'));
      await s.commit();
      assert.deepEqual(s.warnings?.(), [], 'nothing to report while deletions succeed');
      // Marked by that commit; the next session's deletion fails part-way (after added.json went).
      const s4 = await store.openSession(UDID);
      await s4.writeFile('Status.plist', enc.encode('status-4'));
      await s4.commit();
      const [warning, ...more] = s4.warnings?.() ?? [];
      assert.match(warning ?? '', /^An earlier backup past the number kept could not be deleted \(unplugged\)\. It is hidden but still takes space; the next backup tries again\.$/);
      assert.deepEqual(more, []);
      const dir = `.lifeboat/${UDID}/versions/${first!.id}`;
      assert.ok(await f.backend.stat(`${dir}/discarded`), 'the marker outlives a deletion cut short');
      assert.ok(await f.backend.stat(`${dir}/files`));
      assert.ok(!(await store.listVersions(UDID)).some((v) => v.id === first!.id), 'a half-deleted version is never offered');
      unplugged = false;
      const s5 = await store.openSession(UDID);
      await s5.writeFile('Status.plist', enc.encode('status-5'));
      await s5.commit();
      assert.deepEqual(s5.warnings?.(), [], 'the retry succeeded: nothing left to report');
      assert.equal(await f.backend.stat(dir), null);
      assert.equal((await store.listVersions(UDID)).length, 1);
      assert.equal(await text((await store.current(UDID))!, 'Status.plist'), 'status-5');
    } finally {
      await f.cleanup();
    }
  });
}

test('openStoreBackup: the latest or an earlier version; one that is gone says so, naming where it was', async () => {
  const store = await FolderBackupStore.open(new MemoryDirectoryHandle('Backups'));
  const where = 'the folder “Backups”';
  await assert.rejects(openStoreBackup(store, UDID, undefined, where), { code: 'corrupt-backup', message: `That backup is no longer in ${where}.` });
  await firstBackup(store);
  await incrementalBackup(store);
  assert.equal(await text(await openStoreBackup(store, UDID, undefined, where), 'Status.plist'), 'status-2');
  const [earlier] = await store.listVersions(UDID);
  assert.equal(await text(await openStoreBackup(store, UDID, earlier!.id, where), 'Status.plist'), 'status-1');
  await assert.rejects(openStoreBackup(store, UDID, '000099-gone', where), { code: 'corrupt-backup', message: `That earlier backup is no longer kept in ${where}.` });
});

test('free-space policy: OPFS reports quota minus usage; a picked folder reports the documented figure', async () => {
  const opfs = await OpfsBackupStore.open({ root: new MemoryDirectoryHandle(), estimate: async () => ({ quota: 5e9, usage: 1e9 }) });
  const s1 = await opfs.openSession(UDID);
  assert.equal(await s1.freeSpace(), 4e9);
  await s1.discard();
  const folder = await FolderBackupStore.open(new MemoryDirectoryHandle('Backups'));
  const s2 = await folder.openSession(UDID);
  assert.equal(await s2.freeSpace(), FOLDER_REPORTED_FREE_SPACE);
  await s2.discard();
  const denied = Object.assign(new MemoryDirectoryHandle('Locked'), { queryPermission: async () => 'prompt' as PermissionState });
  await assert.rejects(FolderBackupStore.open(denied), { errno: 'EACCES' });
});

test('HandleBackend.readRange: one slice of the file at its position, clamped to its size', async () => {
  const root = new MemoryDirectoryHandle();
  const backend = new HandleBackend(root, { freeSpace: async () => 1e12 });
  const bytes = new Uint8Array(300_000).map((_, i) => (i * 31 + (i >>> 8)) & 0xff);
  await backend.mkdirp('d');
  const sink = await backend.createFile('d/Manifest.db');
  await sink.write(bytes);
  await sink.close();
  for (const [start, end] of [[0, 0], [0, 10], [70_000, 200_000], [299_990, 400_000], [300_000, 300_001], [400_000, 500_000]] as const) {
    assert.deepEqual(await backend.readRange('d/Manifest.db', start, end), bytes.slice(Math.min(start, 300_000), Math.min(end, 300_000)), `[${start}, ${end})`);
  }
  await assert.rejects(backend.readRange('d/missing', 0, 1), (e: unknown) => e instanceof StoreError && e.errno === 'ENOENT');
  await assert.rejects(backend.readRange('d', 0, 1), (e: unknown) => e instanceof StoreError && e.errno === 'EISDIR');
});

for (const [name, setup] of Object.entries(fixtures)) {
  test(`${name}: a reusable-chunk sink keeps each write as it was, and reads into a lent scratch buffer match`, async () => {
    const f = await setup();
    try {
      await f.backend.mkdirp('d');
      const sizes = [0, 5, 11, 12, 13, 64, 1000, 70_000];
      const reused = new Uint8Array(4096);
      const expected = new Map<string, Buffer>();
      for (const size of sizes) {
        const path = `d/f${size}`;
        const sink = await f.backend.createFile(path);
        const parts: Buffer[] = [];
        for (let at = 0, round = 0; at < size; round++) {
          const chunk = reused.subarray(0, Math.min(size - at, 1 + ((round * 977) % reused.byteLength)));
          for (let i = 0; i < chunk.byteLength; i++) chunk[i] = (at + i + size) & 0xff;
          parts.push(Buffer.from(chunk));
          await sink.write(chunk);
          // Every backend here says it is done with a chunk once written: the upload pipeline refills it then.
          assert.equal(sink.chunksReusable, true);
          reused.fill(0xee);
          at += chunk.byteLength;
        }
        await sink.close();
        expected.set(path, Buffer.concat(parts));
      }
      for (const [path, bytes] of expected) {
        assert.ok(Buffer.from(await f.backend.readAll(path)).equals(bytes), `${path} as written`);
        const scratch = new Uint8Array(1024);
        const read: Buffer[] = [];
        for await (const chunk of f.backend.read(path, 1024, scratch)) read.push(Buffer.from(chunk));
        assert.ok(Buffer.concat(read).equals(bytes), `${path} read through a lent scratch buffer`);
      }
    } finally {
      await f.cleanup();
    }
  });
}
