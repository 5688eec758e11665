import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFsBackend } from '../../src/stores/node/node-fs-backend.ts';
import { HandleBackend } from '../../src/stores/handle-backend.ts';
import { PackedBackend } from '../../src/stores/packed/packed-backend.ts';
import { META_DIR, VersionedBackupStore } from '../../src/stores/versioned-backup-store.ts';
import type { BackupSession, BackupTree } from '../../src/stores/backup-store.ts';
import type { StorageBackend } from '../../src/stores/storage-backend.ts';
import { MemoryDirectoryHandle } from './memory-directory-handle.ts';

const UDID = '00008030-001A2B3C4D5E802E';
const enc = new TextEncoder();
const dec = new TextDecoder();
const text = async (tree: BackupTree, path: string): Promise<string> => dec.decode(await tree.readFile(path));

/** Counts the backend's renames, passing everything through. */
function countingRenames(backend: StorageBackend): { backend: StorageBackend; renames: () => number } {
  let renames = 0;
  const proxy = new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === 'rename') {
        return async (from: string, to: string) => {
          renames++;
          return target.rename(from, to);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { backend: proxy, renames: () => renames };
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-inplace-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function uploadNewFiles(store: VersionedBackupStore, count: number): Promise<void> {
  const s = await store.openSession(UDID);
  await s.mkdirp('Snapshot/ab');
  for (let i = 0; i < count; i++) await s.writeFile(`Snapshot/ab/ab${String(i).padStart(38, '0')}`, enc.encode(`file ${i}`));
  await s.sync();
  await s.suspend();
}

test('new files are written straight to their staged place on Node and in the packed store; a picked folder renames each', async () => {
  await withDir(async (dir) => {
    const node = countingRenames(new NodeFsBackend(dir));
    await uploadNewFiles(new VersionedBackupStore('node-fs', node.backend), 20);
    assert.equal(node.renames(), 0);
  });
  const packedBackend = await PackedBackend.open(new MemoryDirectoryHandle(), { freeSpace: async () => 1e12 });
  try {
    const packed = countingRenames(packedBackend);
    await uploadNewFiles(new VersionedBackupStore('opfs', packed.backend), 20);
    assert.equal(packed.renames(), 0);
  } finally {
    await packedBackend.close();
  }
  // A picked folder shows a file as soon as it is made, and a log append there is a round trip.
  const handle = countingRenames(new HandleBackend(new MemoryDirectoryHandle(), { freeSpace: async () => 1e12 }));
  await uploadNewFiles(new VersionedBackupStore('opfs', handle.backend), 20);
  assert.equal(handle.renames(), 20);
});

test('Node: an unplug keeps what was synced, and a resume drops every file written in place after the last sync', async () => {
  await withDir(async (dir) => {
    const first = new VersionedBackupStore('node-fs', new NodeFsBackend(dir));
    const s = await first.openSession(UDID);
    await s.writeFile('Snapshot/ab/synced', enc.encode('acknowledged'));
    await s.writeFile('Snapshot/ab/replaced', enc.encode('first version'));
    await s.sync();
    const open = await s.createFile('Snapshot/ab/open-at-sync');
    await open.write(enc.encode('written before the sync, still open after it'));
    await s.sync();
    await s.writeFile('Snapshot/ab/whole-but-unsynced', enc.encode('never acknowledged'));
    const torn = await s.createFile('Snapshot/cd/torn');
    await torn.write(enc.encode('half of it'));
    const replacing = await s.createFile('Snapshot/ab/replaced');
    await replacing.write(enc.encode('second ver'));
    // Unplug: nothing is closed, nothing is synced. A new process opens the store.
    const backend = new NodeFsBackend(dir);
    const resumed = await new VersionedBackupStore('node-fs', backend).openSession(UDID, { resume: true });
    assert.equal(await text(resumed, 'Snapshot/ab/synced'), 'acknowledged');
    assert.equal(await text(resumed, 'Snapshot/ab/replaced'), 'first version', 'a replacement cut short keeps the old file');
    for (const gone of ['Snapshot/ab/open-at-sync', 'Snapshot/ab/whole-but-unsynced', 'Snapshot/cd/torn']) {
      assert.equal(await resumed.stat(gone), null, gone);
    }
    const staged = join(dir, '.lifeboat', UDID, 'staging', 'data', 'Snapshot');
    assert.deepEqual((await readdir(join(staged, 'ab'))).sort(), ['replaced', 'synced'], 'nothing unfinished is left on disk for a commit to pick up');
    assert.deepEqual(await readdir(join(staged, 'cd')), []);
    await resumed.writeFile('Snapshot/cd/torn', enc.encode('sent again, whole'));
    await resumed.move('Snapshot/cd/torn', 'cd/torn');
    await resumed.move('Snapshot/ab/synced', 'ab/synced');
    await resumed.remove('Snapshot');
    await resumed.commit();
    const cur = (await new VersionedBackupStore('node-fs', backend).current(UDID))!;
    assert.equal(await text(cur, 'cd/torn'), 'sent again, whole');
    assert.equal(await text(cur, 'ab/synced'), 'acknowledged');
    assert.equal(await cur.stat('Snapshot'), null);
  });
});

test('Node: the unfinished log after a commit, a suspend and a discard', async () => {
  await withDir(async (dir) => {
    const store = new VersionedBackupStore('node-fs', new NodeFsBackend(dir));
    const log = join(dir, '.lifeboat', UDID, 'staging', 'unfinished.jsonl');
    const s = await store.openSession(UDID);
    await s.writeFile('a', enc.encode('1'));
    assert.equal(await readFile(log, 'utf8'), '"a"\n', 'named before it was opened');
    await s.suspend();
    assert.equal(await readFile(log, 'utf8'), '', 'a suspend syncs: nothing is unfinished');
    const again = await store.openSession(UDID, { resume: true });
    assert.equal(await text(again, 'a'), '1');
    await again.commit();
    assert.equal(await store.hasInterruptedBackup(UDID), false);
    const third = await store.openSession(UDID);
    await third.writeFile('b', enc.encode('2'));
    await third.discard();
    assert.equal(await store.hasInterruptedBackup(UDID), false);
    assert.equal(await text((await store.current(UDID))!, 'a'), '1');
  });
});

test('Node: a damaged unfinished log deletes nothing outside staging', async () => {
  await withDir(async (dir) => {
    const store = new VersionedBackupStore('node-fs', new NodeFsBackend(dir));
    const s = await store.openSession(UDID);
    await s.writeFile('keep', enc.encode('synced'));
    await s.sync();
    await s.suspend();
    await mkdir(join(dir, 'outside'));
    await writeFile(join(dir, 'outside', 'precious'), 'not the store’s');
    const staging = join(dir, '.lifeboat', UDID, 'staging');
    await writeFile(join(staging, 'unfinished.jsonl'), ['"../../../../outside/precious"', '""', '42', '{"x":1}', '"keep/../.."', '"kee'].join('\n'));
    const resumed = await store.openSession(UDID, { resume: true });
    assert.equal(await text(resumed, 'keep'), 'synced');
    assert.equal(await readFile(join(dir, 'outside', 'precious'), 'utf8'), 'not the store’s');
    await resumed.discard();
  });
});

/** Writes a file through createFileNow where the session offers it, else createFile; true when it was the former. */
async function put(s: BackupSession, path: string, content: string): Promise<boolean> {
  const now = s.createFileNow!(path);
  if (now) {
    now.writeNow(enc.encode(content));
    now.closeNow();
    return true;
  }
  const sink = await s.createFile(path);
  await sink.write(enc.encode(content));
  await sink.close();
  return false;
}

test('Node: createFileNow and moveNow store without promises where they can, fall back where they cannot, and keep the unplug guarantees', async () => {
  await withDir(async (dir) => {
    const store = new VersionedBackupStore('node-fs', new NodeFsBackend(dir));
    const s = await store.openSession(UDID);
    const id = (n: number): string => `ab${String(n).padStart(38, '0')}`;
    assert.equal(s.createFileNow!(`Snapshot/ab/${id(1)}`), null, 'a folder not staged yet needs mkdirp');
    await s.mkdirp('Snapshot/ab');
    // The current backup is asked by a synchronous stat on Node: even a folder's first file needs no promise.
    assert.deepEqual([await put(s, `Snapshot/ab/${id(1)}`, 'first 1'), await put(s, `Snapshot/ab/${id(2)}`, 'first 2'), await put(s, `Snapshot/ab/${id(3)}`, 'first 3')], [true, true, true]);
    assert.equal(s.createFileNow!(`Snapshot/ab/${id(1)}`), null, 'replacing a staged file goes through a temporary name');
    assert.equal(await text(s, `Snapshot/ab/${id(2)}`), 'first 2');
    assert.equal(s.moveNow!(`Snapshot/ab/${id(1)}`, `ab/${id(1)}`), false, 'the destination folder is not staged');
    await s.mkdirp('ab');
    assert.equal(s.moveNow!('Snapshot/ab', 'cd'), false, 'folders move through move()');
    // Neither does a folder's first move: the current backup has not been listed, but a stat answers.
    for (let i = 1; i <= 3; i++) assert.equal(s.moveNow!(`Snapshot/ab/${id(i)}`, `ab/${id(i)}`), true);
    assert.equal(await s.stat(`Snapshot/ab/${id(2)}`), null);
    await s.remove('Snapshot');
    await s.commit();
    const cur = (await store.current(UDID))!;
    assert.equal(await text(cur, `ab/${id(3)}`), 'first 3');

    // An incremental backup: moving onto a file of the current backup replaces it, and the others stay.
    const next = await store.openSession(UDID);
    await next.mkdirp('Snapshot/ab');
    await next.mkdirp('ab');
    await put(next, `Snapshot/ab/${id(2)}`, 'second 2');
    await next.stat(`ab/${id(9)}`); // the current backup's ab/ is listed
    assert.equal(next.moveNow!(`Snapshot/ab/${id(2)}`, `ab/${id(2)}`), true);
    assert.equal(await text(next, `ab/${id(2)}`), 'second 2');
    // A staged file over a current one, moved away: the current file is hidden, or it would show again.
    await next.mkdirp('cd');
    await put(next, `ab/${id(3)}`, 'second 3');
    assert.equal(next.moveNow!(`ab/${id(3)}`, `cd/${id(3)}`), true);
    assert.equal(await next.stat(`ab/${id(3)}`), null);
    // Unplug with a file open: the resume drops it, as it does one made by createFile.
    await next.sync();
    // Only that one is recorded as hidden: a file replacing a file needs no hiding (the commit moves the old one aside).
    const hidden = await readFile(join(dir, META_DIR, UDID, 'staging', 'whiteouts.jsonl'), 'utf8');
    assert.deepEqual(hidden.trim().split('\n'), [JSON.stringify(`ab/${id(3)}`)]);
    assert.equal(await put(next, `Snapshot/ab/${id(5)}`, 'whole'), true);
    const open = next.createFileNow!(`Snapshot/ab/${id(4)}`)!;
    assert.ok(open);
    open.writeNow(enc.encode('half'));
    const resumed = await new VersionedBackupStore('node-fs', new NodeFsBackend(dir)).openSession(UDID, { resume: true });
    assert.equal(await resumed.stat(`Snapshot/ab/${id(4)}`), null, 'a file open at the unplug is dropped');
    assert.equal(await resumed.stat(`Snapshot/ab/${id(5)}`), null, 'a file closed after the last sync is dropped');
    assert.equal(await text(resumed, `ab/${id(2)}`), 'second 2', 'a move synced before the unplug stays');
    await resumed.remove('Snapshot');
    await resumed.commit();
    const after = (await store.current(UDID))!;
    assert.equal(await text(after, `ab/${id(2)}`), 'second 2');
    assert.equal(await text(after, `ab/${id(1)}`), 'first 1');
    assert.equal(await after.stat(`ab/${id(3)}`), null, 'moved away before the last sync');
    assert.equal(await text(after, `cd/${id(3)}`), 'second 3');
  });
});

test('Node: a file moved onto a folder of the last backup hides what the folder held, and the commit keeps the folder in the version', async () => {
  await withDir(async (dir) => {
    const store = new VersionedBackupStore('node-fs', new NodeFsBackend(dir));
    const first = await store.openSession(UDID);
    await first.writeFile('ab/dir/child', enc.encode('old child'));
    await first.writeFile('ab/keep', enc.encode('kept'));
    await first.commit();

    const s = await store.openSession(UDID);
    await s.mkdirp('Snapshot/ab');
    await s.mkdirp('ab');
    await put(s, 'Snapshot/ab/dir', 'now a file');
    assert.equal(s.moveNow!('Snapshot/ab/dir', 'ab/dir'), true);
    assert.equal((await s.stat('ab/dir'))?.kind, 'file');
    assert.equal(await s.stat('ab/dir/child'), null, 'the folder it replaced shows nothing below the file');
    await assert.rejects(s.readFile('ab/dir/child'), { errno: 'ENOENT' });
    assert.deepEqual((await s.list('ab')).map((e) => `${e.name} ${e.kind}`).sort(), ['dir file', 'keep file']);
    await s.remove('Snapshot');
    await s.commit();
    const cur = (await store.current(UDID))!;
    assert.equal(await text(cur, 'ab/dir'), 'now a file');
    assert.equal(await text(cur, 'ab/keep'), 'kept');
    const [v] = await store.listVersions(UDID);
    const old = await store.openVersion(UDID, v!.id);
    assert.equal(await text(old, 'ab/dir/child'), 'old child');
  });
});
