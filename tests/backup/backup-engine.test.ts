import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupEngine, setEncryption, changePassword, type BackupProgress } from '../../src/backup/index.ts';
import { decodePlist, type PlistDict } from '../../src/plist/index.ts';
import { NodeFsBackupStore } from '../../src/stores/node/node-fs-backup-store.ts';
import { NodeFsBackend } from '../../src/stores/node/node-fs-backend.ts';
import { VersionedBackupStore } from '../../src/stores/versioned-backup-store.ts';
import { StoreError } from '../../src/stores/errors.ts';
import type { BackupTree } from '../../src/stores/backup-store.ts';
import { installBackupServices, type BackupServices } from '../../src/virtual-iphone/services/index.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { DirectServiceProvider } from './direct-service-provider.ts';

const FAST_KDF = { dpic: 1000, iter: 10 };

async function device(options: Parameters<typeof installBackupServices>[1] = {}): Promise<{ iphone: VirtualIPhone; services: BackupServices; provider: DirectServiceProvider }> {
  const iphone = new VirtualIPhone();
  const services = installBackupServices(iphone, { dataset: 'small', kdf: FAST_KDF as never, ...options });
  await services.ready;
  return { iphone, services, provider: new DirectServiceProvider(iphone) };
}

function valuesOf(iphone: VirtualIPhone) {
  const backup = iphone.values.domains['com.apple.mobile.backup'];
  return {
    root: iphone.values.root,
    iTunesSettings: iphone.values.domains['com.apple.iTunes'] ?? {},
    willEncrypt: backup?.['WillEncrypt'] === true,
  };
}

async function sha256Of(tree: BackupTree, path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of tree.read(path)) h.update(c);
  return h.digest('hex');
}

/** Every file of the device's truth list is in the backup with identical content. */
async function assertMatchesTruth(tree: BackupTree, services: BackupServices): Promise<number> {
  const truth = await (await services.dataset()).truth(false);
  let files = 0;
  for (const entry of truth) {
    if (entry.kind !== 'file') continue;
    const id = createHash('sha1').update(`${entry.domain}-${entry.relativePath}`).digest('hex');
    const path = `${id.slice(0, 2)}/${id}`;
    const st = await tree.stat(path);
    assert.ok(st, `missing ${entry.domain}-${entry.relativePath}`);
    assert.equal(st.size, entry.size, `size of ${entry.relativePath}`);
    assert.equal(await sha256Of(tree, path), entry.sha256, `content of ${entry.relativePath}`);
    files++;
  }
  return files;
}

async function statusOf(tree: BackupTree): Promise<PlistDict> {
  return decodePlist(await tree.readFile('Status.plist')) as PlistDict;
}

test('full backup, then incremental after mutate: content equals the device truth, previous kept as a version', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-'));
  try {
    const { iphone, services, provider } = await device();
    const store = await NodeFsBackupStore.open(dir);
    const events: BackupProgress[] = [];
    const r1 = await BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone), onProgress: (p) => events.push(p) });
    assert.ok(provider.started.includes('com.apple.mobilebackup2+escrow'));
    assert.ok(r1.filesReceived > 10 && r1.bytesReceived > 0);
    assert.equal(r1.isFullBackup, true);
    const cur = (await store.current(iphone.udid))!;
    assert.equal((await statusOf(cur)).SnapshotState, 'finished');
    assert.ok(await cur.stat('Manifest.db'));
    const files = await assertMatchesTruth(cur, services);
    assert.ok(files > 10);
    const info = decodePlist(await cur.readFile('Info.plist')) as PlistDict;
    assert.match(info.GUID as string, /^[0-9A-F]{32}$/);
    assert.equal(info['Target Identifier'], iphone.udid);
    assert.equal(info['Unique Identifier'], iphone.udid.toUpperCase());
    assert.equal(info['Product Type'], iphone.values.root.ProductType);
    assert.ok((info['Installed Applications'] as string[]).length > 0);
    // Progress: stages in order, ending done, throttled.
    const stages = events.map((e) => e.stage).filter((s, i, a) => a[i - 1] !== s);
    assert.deepEqual(stages.filter((s) => s !== 'waiting-for-passcode'), ['preparing', 'device-preparing', 'receiving', 'finishing', 'done']);
    assert.equal(events.at(-1)!.bytesReceived, r1.bytesReceived);

    const dataset = await services.dataset();
    const summary = dataset.mutate(7);
    const r2 = await BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) });
    assert.equal(r2.isFullBackup, false);
    assert.ok(r2.bytesReceived < r1.bytesReceived, 'incremental sends less');
    const cur2 = (await store.current(iphone.udid))!;
    await assertMatchesTruth(cur2, services);
    const removedId = createHash('sha1').update(summary.removed[0]!).digest('hex');
    assert.equal(await cur2.stat(`${removedId.slice(0, 2)}/${removedId}`), null);
    const [v] = await store.listVersions(iphone.udid);
    const old = await store.openVersion(iphone.udid, v!.id);
    assert.ok(await old.stat(`${removedId.slice(0, 2)}/${removedId}`), 'the previous backup still has the removed file');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an incremental with nothing changed sends no file; one whose host Manifest.db lost a row sends that file again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-'));
  try {
    const { iphone, services, provider } = await device();
    const store = await NodeFsBackupStore.open(dir);
    const run = () => BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) });
    const full = await run();
    // The host's Manifest.db is what the device sent: the device takes its rows as it wrote them.
    const same = await run();
    assert.equal(same.isFullBackup, false);
    const manifestPath = join(dir, iphone.udid, 'Manifest.db');
    const { openDatabase, exportDatabase } = await import('../../src/virtual-iphone/dataset/sqlite.ts');
    const db = await openDatabase(new Uint8Array(await readFile(manifestPath)));
    const lost = String(db.selectValue("SELECT fileID FROM Files WHERE flags = 1 AND relativePath LIKE '%.jpg' ORDER BY fileID LIMIT 1"));
    db.exec({ sql: 'DELETE FROM Files WHERE fileID = ?', bind: [lost] });
    const edited = exportDatabase(db);
    db.close();
    // A new file put in its place (the store's versions may share the old one's inode).
    await writeFile(`${manifestPath}.edited`, edited);
    await rename(`${manifestPath}.edited`, manifestPath);

    const again = await run();
    assert.equal(again.filesReceived, same.filesReceived + 1, 'the file the host lost from its Manifest.db, and nothing else');
    assert.ok(full.filesReceived > same.filesReceived + 10);
    const cur = (await store.current(iphone.udid))!;
    await assertMatchesTruth(cur, services);
    const check = await openDatabase(await cur.readFile('Manifest.db'));
    assert.equal(Number(check.selectValue('SELECT count(*) FROM Files WHERE fileID = ?', [lost])), 1, 'the row is back');
    check.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an earlier backup the store could not delete is a warning of the backup that found it, not a failure', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-'));
  try {
    const { iphone, services, provider } = await device();
    const backend = new NodeFsBackend(dir);
    let removable = false;
    // The file system refuses to delete a kept version's files (a permission changed behind our back).
    const stubborn = new Proxy(backend, {
      get(target, prop, receiver) {
        if (prop === 'remove') {
          return async (path: string) => {
            if (!removable && /\/versions\/[^/]+\/files$/.test(path)) throw new StoreError('EACCES', path);
            return target.remove(path);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const store = new VersionedBackupStore('node-fs', stubborn, { keepVersions: 0 });
    const warned: string[] = [];
    const run = () => BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone), onWarning: (w) => warned.push(w) });
    await run();
    const second = await run();
    assert.deepEqual(second.warnings, [], 'the first version is only marked by this commit');
    // The next backup deletes it while the device prepares: refused, reported, and the backup is whole.
    const third = await run();
    assert.equal(third.warnings.length, 1);
    assert.match(third.warnings[0]!, /^An earlier backup past the number kept could not be deleted \(Permission denied: \.lifeboat\/[^ ]+\/versions\/[^/]+\/files\)\. It is hidden but still takes space; the next backup tries again\.$/);
    assert.deepEqual(warned, third.warnings, 'the caller heard it as it happened');
    assert.deepEqual(await store.listVersions(iphone.udid), [], 'keep none: nothing offered');
    await assertMatchesTruth((await store.current(iphone.udid))!, services);
    removable = true;
    const fourth = await run();
    assert.deepEqual(fourth.warnings, []);
    const left = await readdir(join(dir, '.lifeboat', iphone.udid, 'versions'));
    assert.equal(left.length, 1, 'the refused versions are gone; only the one this commit marked is left');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('incrementals after changes: the Manifest.db the device updates over the copy it sent is right, and so is one read back from an older copy', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-'));
  try {
    const { iphone, services, provider } = await device();
    const store = await NodeFsBackupStore.open(dir);
    const run = () => BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) });
    const manifestPath = join(dir, iphone.udid, 'Manifest.db');
    const dataset = await services.dataset();
    await run();
    const idle = (await run()).filesReceived; // Status.plist, Manifest.db and the like: no payload
    const first = await readFile(manifestPath);
    // The host's copy is the one sent: the device updates the bytes it kept (no second copy of them).
    dataset.mutate(21);
    const second = await run();
    assert.equal(second.isFullBackup, false);
    await assertMatchesTruth((await store.current(iphone.udid))!, services);
    // A host that kept an older Manifest.db than the one last sent: the device reads that one instead.
    await writeFile(`${manifestPath}.older`, first);
    await rename(`${manifestPath}.older`, manifestPath);
    dataset.mutate(22);
    const third = await run();
    assert.equal(third.isFullBackup, false);
    assert.ok(third.filesReceived > second.filesReceived, 'the files changed since the older copy, the first change too');
    await assertMatchesTruth((await store.current(iphone.udid))!, services);
    dataset.mutate(23);
    const fourth = await run();
    assert.equal(fourth.isFullBackup, false);
    await assertMatchesTruth((await store.current(iphone.udid))!, services);
    assert.equal((await run()).filesReceived, idle, 'nothing changed since the last one: no payload');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('device errors become typed errors; cancel keeps staging for a resume', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-'));
  try {
    const { iphone, services, provider } = await device();
    const store = await NodeFsBackupStore.open(dir);
    services.state.faults.errorCode = 105;
    await assert.rejects(BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) }), { code: 'insufficient-space' });
    services.state.faults.errorCode = 208;
    await assert.rejects(BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) }), { code: 'passcode-not-entered' });
    services.state.faults.errorCode = undefined;

    const ac = new AbortController();
    const run = BackupEngine.run({
      provider,
      store,
      udid: iphone.udid,
      deviceValues: valuesOf(iphone),
      signal: ac.signal,
      onProgress: (p) => {
        if (p.bytesReceived > 0) ac.abort();
      },
    });
    await assert.rejects(run, { code: 'cancelled' });
    assert.equal(await store.current(iphone.udid), null, 'nothing published');
    assert.ok(await store.hasInterruptedBackup(iphone.udid));
    const r = await BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) });
    assert.ok(r.filesReceived > 0);
    await assertMatchesTruth((await store.current(iphone.udid))!, services);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unplug at random byte offsets: the previous backup still verifies and the next one completes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-'));
  try {
    const { iphone, services, provider } = await device();
    const store = await NodeFsBackupStore.open(dir);
    await BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) });
    const dataset = await services.dataset();
    let seed = 12345;
    for (let round = 0; round < 3; round++) {
      const before = await dataset.truth(false);
      dataset.mutate(100 + round);
      seed = (seed * 1103515245 + 12345) >>> 0;
      services.state.faults.unplugAtByte = 2000 + (seed % 60000);
      await assert.rejects(BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) }), (e: Error) =>
        ['device-disconnected', 'protocol'].includes((e as { code?: string }).code ?? ''),
      );
      // The last complete backup is exactly the pre-mutation truth.
      const cur = (await store.current(iphone.udid))!;
      for (const entry of before) {
        if (entry.kind !== 'file') continue;
        const id = createHash('sha1').update(`${entry.domain}-${entry.relativePath}`).digest('hex');
        assert.equal(await sha256Of(cur, `${id.slice(0, 2)}/${id}`), entry.sha256);
      }
      services.state.faults.unplugAtByte = undefined;
      await BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) });
      await assertMatchesTruth((await store.current(iphone.udid))!, services);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('encryption on, encrypted backup, password change, encryption off', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-e2e-'));
  try {
    const { iphone, provider } = await device();
    const store = await NodeFsBackupStore.open(dir);
    assert.equal(await setEncryption(provider, { udid: iphone.udid, enable: true, password: 'hunter2', willEncrypt: valuesOf(iphone).willEncrypt }), 'changed');
    assert.equal(valuesOf(iphone).willEncrypt, true);
    assert.equal(await setEncryption(provider, { udid: iphone.udid, enable: true, password: 'x', willEncrypt: true }), 'unchanged');
    const r = await BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: valuesOf(iphone) });
    assert.equal(r.encrypted, true);
    const manifest = decodePlist(await (await store.current(iphone.udid))!.readFile('Manifest.plist')) as PlistDict;
    assert.equal(manifest.IsEncrypted, true);
    assert.ok(manifest.ManifestKey instanceof Uint8Array);
    await assert.rejects(changePassword(provider, { udid: iphone.udid, oldPassword: 'wrong', newPassword: 'new' }), { code: 'wrong-password' });
    await changePassword(provider, { udid: iphone.udid, oldPassword: 'hunter2', newPassword: 'new' });
    await setEncryption(provider, { udid: iphone.udid, enable: false, password: 'new', willEncrypt: true });
    assert.equal(valuesOf(iphone).willEncrypt, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
