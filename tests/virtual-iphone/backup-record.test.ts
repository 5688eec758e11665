// A restarted virtual iPhone remembers the rows of the Manifest.db files it sent (backup-record.ts), filed
// under the SHA-256 of each file: when the host sends one of them back for an incremental backup, the
// phone takes the recorded rows instead of reading 1.3M rows again. The record must say what reading the
// file says; anything else (cut short, a fileID twice, a copy that differs in one byte) is read as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupEngine } from '../../src/backup/index.ts';
import { NodeFsBackupStore } from '../../src/stores/node/node-fs-backup-store.ts';
import { Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { installBackupServices } from '../../src/virtual-iphone/services/index.ts';
import { buildManifestDb, readManifestDb } from '../../src/virtual-iphone/services/mobilebackup2/manifest.ts';
import { BackupRows } from '../../src/virtual-iphone/services/mobilebackup2/backup-rows.ts';
import { decodeBackupRecord, encodeBackupRecord, encodeBackupRecordInSlices, type BackupRecordStore, type IncrementalHash } from '../../src/virtual-iphone/services/mobilebackup2/backup-record.ts';
import type { PreviousRows } from '../../src/virtual-iphone/services/mobilebackup2/previous-rows.ts';
import { KEY_BYTES } from '../../src/virtual-iphone/services/mobilebackup2/encryption-keys.ts';
import { BackupRecordFiles } from '../../src/virtual-iphone/node/backup-record-files.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { BackupEncryption } from '../../src/virtual-iphone/encryption/backup-encryption.ts';
import { DirectServiceProvider } from '../backup/direct-service-provider.ts';

function sha256(): IncrementalHash {
  const hash = createHash('sha256');
  return { update: (bytes) => void hash.update(bytes), digest: () => new Uint8Array(hash.digest()) };
}

/** `record` with its digest worked out again over what it now holds. */
function resealed(record: Uint8Array): Uint8Array {
  record.set(createHash('sha256').update(record.subarray(48)).digest(), 16);
  return record;
}

const said = (rows: PreviousRows) =>
  Array.from({ length: rows.count }, (_, ref) => [rows.fileId(ref), rows.flags(ref), rows.size(ref), rows.lastModified(ref), rows.encryptionKey(ref), rows.fingerprint(ref)] as const).sort((x, y) =>
    x[0] < y[0] ? -1 : 1,
  );

test('a record of the rows sent says what reading the Manifest.db says, keys included; the next plan is the same', async () => {
  for (const encrypted of [false, true]) {
    const dataset = await Dataset.create({ size: 'small', seed: 21 });
    const first = new BackupRows(dataset.listing(encrypted), null, encrypted);
    if (encrypted) for (let i = 0; i < first.length; i++) if (first.list.kind(i) === 'file') first.keys!.set(i, new Uint8Array(44).map((_, b) => (i * 7 + b) & 0xff));
    const built = await buildManifestDb(first.rows());
    const record = encodeBackupRecord(first.asSent(), encrypted, sha256);
    assert.ok(record);
    const decoded = decodeBackupRecord(record, sha256);
    assert.ok(decoded);
    assert.equal(decoded.encrypted, encrypted);
    const read = await readManifestDb(built);
    assert.ok(read && read.count > 100);
    assert.deepEqual(said(decoded.rows), said(read));
    assert.equal(said(read).some((row) => row[4] !== undefined), encrypted);

    // The next backup's plan from the record is the plan from the database read back.
    dataset.mutate(9, { everyday: true });
    // A file kept keeps its key (as the device plans it), whichever rows it was matched with.
    const carried = (rows: BackupRows): BackupRows => {
      for (let i = 0; encrypted && i < rows.length; i++) if (rows.refs![i]! >= 0) rows.keys!.set(i, rows.previous!.encryptionKey(rows.refs![i]!));
      return rows;
    };
    const fromRecord = carried(new BackupRows(dataset.listing(encrypted), decoded.rows, encrypted));
    const fromRead = carried(new BackupRows(dataset.listing(encrypted), read, encrypted));
    const changed = fromRecord.changedRows().map((r) => r.fileId).sort();
    assert.ok(changed.length > 0 && changed.length < fromRecord.length / 4, `${changed.length} of ${fromRecord.length} rows changed`);
    assert.deepEqual(changed, fromRead.changedRows().map((r) => r.fileId).sort());
    assert.deepEqual(fromRecord.deletedFileIds().sort(), fromRead.deletedFileIds().sort());
  }
});

test('a record cut short, of another format or with a fileID twice is no record; rows it cannot hold make none', async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 22 });
  const rows = new BackupRows(dataset.listing(false), null, false);
  const record = encodeBackupRecord(rows.asSent(), false, sha256)!;
  assert.equal(decodeBackupRecord(record.subarray(0, record.byteLength - 1), sha256), null, 'cut short');
  assert.equal(decodeBackupRecord(new Uint8Array(8), sha256), null, 'shorter than its header');
  const other = record.slice();
  other[7] = 0x32;
  assert.equal(decodeBackupRecord(other, sha256), null, 'another format');
  const flagged = record.slice();
  flagged[12] = 4;
  assert.equal(decodeBackupRecord(flagged, sha256), null, 'unknown flags');
  // The second row's fileID made the first one's.
  const n = new DataView(record.buffer).getUint32(8, true);
  const twice = record.slice();
  const ids = 48 + n * 32;
  twice.copyWithin(ids + 20, ids, ids + 20);
  assert.equal(decodeBackupRecord(twice, sha256), null, 'a fileID twice (and its digest no longer the record’s)');
  assert.equal(decodeBackupRecord(resealed(twice), sha256), null, 'a fileID twice');
  const changed = record.slice();
  changed[48 + 8 * n] ^= 1; // a size
  assert.equal(decodeBackupRecord(changed, sha256), null, 'one bit changed');
  assert.ok(decodeBackupRecord(resealed(record.slice()), sha256), 'resealing alone changes nothing');

  const odd: PreviousRows = Object.assign(Object.create(rows.asSent()) as PreviousRows, { fileId: (ref: number) => (ref === 3 ? 'not-a-sha1' : rows.fileId(ref)) });
  assert.equal(encodeBackupRecord(odd, false, sha256), null, 'a fileID that is not 40 hex digits');
  const keyed = new BackupRows(dataset.listing(true), null, true);
  keyed.keys!.set(0, new Uint8Array(12));
  assert.equal(encodeBackupRecord(keyed.asSent(), true, sha256), null, 'a key of another length');
});

/** Records in memory, counting what was asked for and found. */
class CountingRecords implements BackupRecordStore {
  readonly records = new Map<string, Uint8Array>();
  found = 0;
  missed = 0;
  load(key: string): Uint8Array | null {
    const record = this.records.get(key) ?? null;
    if (record) this.found++;
    else this.missed++;
    return record;
  }
  async save(key: string, record: Uint8Array): Promise<void> {
    this.records.set(key, record);
  }
  sha256(): IncrementalHash {
    return sha256();
  }
  readonly held: Promise<void>[] = [];
  hold(work: Promise<void>): void {
    this.held.push(work);
  }
  /** Once the records being made are filed (the phone makes them after the host has its answer). */
  async settled(): Promise<void> {
    await Promise.all(this.held);
  }
}

/** A store that loses every record it is given (a full disk, a wiped --state folder). */
class ForgetfulRecords extends CountingRecords {
  override async save(): Promise<void> {}
}

/** The phone (a new instance: a restart), its data moved on `mutate` steps, encrypting with `encryption` (its keybag kept across the restart, as --state keeps it). */
async function phone(records: BackupRecordStore, mutate?: number, encryption?: BackupEncryption) {
  const iphone = new VirtualIPhone({ dataset: 'small', seed: 23, backupRecords: records, ...(mutate !== undefined ? { mutate } : {}) });
  await iphone.backup.ready;
  if (encryption) {
    iphone.backup.state.encryption = encryption;
    iphone.backup.state.setWillEncrypt(true);
  }
  return { iphone, provider: new DirectServiceProvider(iphone) };
}

/** Backs a phone up into `store`, then waits for the phone to file its record of what it sent. */
function backUp(store: NodeFsBackupStore, records: CountingRecords, willEncrypt: boolean) {
  return async (p: Awaited<ReturnType<typeof phone>>) => {
    const result = await BackupEngine.run({ provider: p.provider, store, udid: p.iphone.udid, deviceValues: { root: p.iphone.values.root, iTunesSettings: {}, willEncrypt } });
    await records.settled();
    return result;
  };
}

async function matchesTruth(dir: string, iphone: VirtualIPhone): Promise<number> {
  if (iphone.backup.state.encryption) return 0; // an encrypted backup's files are checked by the encryption tests
  let files = 0;
  for (const entry of await (await iphone.backup.dataset()).truth(false)) {
    if (entry.kind !== 'file') continue;
    const id = createHash('sha1').update(`${entry.domain}-${entry.relativePath}`).digest('hex');
    const bytes = await readFile(join(dir, iphone.udid, id.slice(0, 2), id));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), entry.sha256, entry.relativePath);
    files++;
  }
  return files;
}

test('a restarted phone takes the rows it recorded for the Manifest.db the host holds; a copy that differs is read, and its lost file sent again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-record-'));
  try {
    const store = await NodeFsBackupStore.open(dir);
    const records = new CountingRecords();
    const run = backUp(store, records, false);

    const first = await phone(records);
    const full = await run(first);
    assert.equal(full.isFullBackup, true);
    assert.equal(records.records.size, 1, 'the full backup’s rows are recorded');
    const [key] = records.records.keys();
    assert.equal(key, createHash('sha256').update(await readFile(join(dir, first.iphone.udid, 'Manifest.db'))).digest('hex'), 'under the digest of the file the host keeps');

    // Restarted with its data moved on: a new phone (nothing in memory), the same records.
    const second = await phone(records, 7);
    const next = await run(second);
    assert.equal(next.isFullBackup, false);
    assert.equal(records.found, 1, 'the record was found');
    assert.ok(next.filesReceived < full.filesReceived / 4, `${next.filesReceived} of ${full.filesReceived} files sent`);
    assert.ok((await matchesTruth(dir, second.iphone)) > 10);
    assert.equal(records.records.size, 2, 'and the updated database recorded too');

    // Nothing changed since: the record of the updated database is found too.
    const same = await run(await phone(records, 7));
    assert.equal(same.isFullBackup, false);
    assert.equal(records.found, 2);

    // The host's copy loses a row: no record has its digest, so the phone reads it and sends that file again.
    const manifestPath = join(dir, second.iphone.udid, 'Manifest.db');
    const { openDatabase, exportDatabase } = await import('../../src/virtual-iphone/dataset/sqlite.ts');
    const db = await openDatabase(new Uint8Array(await readFile(manifestPath)));
    const lost = String(db.selectValue("SELECT fileID FROM Files WHERE flags = 1 ORDER BY fileID LIMIT 1"));
    db.exec({ sql: 'DELETE FROM Files WHERE fileID = ?', bind: [lost] });
    const edited = exportDatabase(db);
    db.close();
    await writeFile(`${manifestPath}.new`, edited);
    await rename(`${manifestPath}.new`, manifestPath);
    const fourth = await phone(records, 7);
    const missedBefore = records.missed;
    const again = await run(fourth);
    assert.equal(again.isFullBackup, false);
    assert.equal(records.missed, missedBefore + 1, 'the edited copy has no record');
    assert.equal(records.found, 2);
    assert.equal(again.filesReceived, same.filesReceived + 1, 'the file whose row was lost, and nothing else');
    await matchesTruth(dir, fourth.iphone);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--state keeps the newest four records, one file each, and loads only a SHA-256 key', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-record-files-'));
  try {
    const files = new BackupRecordFiles(dir, 'UDID');
    const key = (i: number) => createHash('sha256').update(String(i)).digest('hex');
    for (let i = 0; i < 6; i++) {
      await files.save(key(i), new Uint8Array([i]));
      await new Promise((resolve) => setTimeout(resolve, 15)); // distinct modification times
    }
    assert.equal((await readdir(dir)).length, 4);
    assert.equal(files.load(key(1)), null, 'an old one dropped');
    assert.deepEqual([...files.load(key(5))!], [5]);
    assert.equal(files.load('../../etc/passwd'), null);
    // A real record read back from its file (a Node Buffer underneath) decodes.
    const rows = new BackupRows((await Dataset.create({ size: 'small', seed: 24 })).listing(false), null, false);
    await files.save(key(9), encodeBackupRecord(rows.asSent(), false, sha256)!);
    const decoded = decodeBackupRecord(files.load(key(9))!, sha256);
    assert.ok(decoded);
    assert.deepEqual(said(decoded.rows), said(rows.asSent()));
    const viaBuffer = decodeBackupRecord(await readFile(join(dir, `virtual-iphone-UDID-sent-${key(9)}.bin`)), sha256);
    assert.ok(viaBuffer, 'a Buffer given straight from readFile decodes too');
    const hash = files.sha256();
    hash.update(new TextEncoder().encode('ab'));
    hash.update(new TextEncoder().encode('c'));
    assert.equal(Buffer.from(hash.digest()).toString('hex'), createHash('sha256').update('abc').digest('hex'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an encrypted backup: the restarted phone finds the rows of the encrypted Manifest.db it sent, keys included', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-record-enc-'));
  try {
    const store = await NodeFsBackupStore.open(dir);
    const records = new CountingRecords();
    const run = backUp(store, records, true);
    const encryption = await BackupEncryption.create('pw', { dpic: 1000, iter: 10 } as never);
    const first = await phone(records, undefined, encryption);
    const full = await run(first);
    assert.equal(full.isFullBackup, true);
    assert.equal(records.records.size, 1);
    const [key] = records.records.keys();
    assert.equal(key, createHash('sha256').update(await readFile(join(dir, first.iphone.udid, 'Manifest.db'))).digest('hex'), 'the digest of the encrypted file the host keeps');
    const second = await phone(records, 7, encryption);
    const next = await run(second);
    assert.equal(next.isFullBackup, false);
    assert.equal(records.found, 1);
    assert.ok(next.filesReceived < full.filesReceived / 4, `${next.filesReceived} of ${full.filesReceived} files sent`);
    // Nothing changed since: no file but the database and its companions, so every kept key was right.
    const same = await run(await phone(records, 7, encryption));
    assert.equal(records.found, 2);
    assert.ok(same.filesReceived < 10, `${same.filesReceived} files sent`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an encrypted backup on a phone whose records are lost: the copy it last sent, still in memory, is known by the digest taken as it arrived', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-record-enc-mem-'));
  try {
    const store = await NodeFsBackupStore.open(dir);
    const records = new ForgetfulRecords();
    const run = backUp(store, records, true);
    const encryption = await BackupEncryption.create('pw', { dpic: 1000, iter: 10 } as never);
    const same = await phone(records, undefined, encryption);
    const full = await run(same);
    assert.equal(full.isFullBackup, true);
    const next = await run(same);
    assert.equal(next.isFullBackup, false);
    assert.equal(records.missed, 1, 'no record found: the digest was looked up and missed');
    assert.ok(next.filesReceived < 10, `${next.filesReceived} of ${full.filesReceived} files sent`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a record made a slice at a time, pausing between slices, is the record made at once', async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 25 });
  for (const encrypted of [false, true]) {
    const rows = new BackupRows(dataset.listing(encrypted), null, encrypted);
    for (let i = 0; encrypted && i < rows.length; i += 3) rows.keys!.set(i, new Uint8Array(KEY_BYTES).fill(i & 255));
    const whole = encodeBackupRecord(rows.asSent(), encrypted, sha256)!;
    let pauses = 0;
    const pause = async (): Promise<void> => {
      pauses++;
      await new Promise((resolve) => setImmediate(resolve));
    };
    const sliced = (await encodeBackupRecordInSlices(rows.asSent(), encrypted, sha256, pause, 97, 4096))!;
    assert.deepEqual(sliced, whole);
    const expected = Math.ceil(rows.length / 97) + Math.ceil((whole.byteLength - 48) / 4096);
    assert.equal(pauses, expected, `${rows.length} rows in slices of 97, ${whole.byteLength} bytes hashed in slices of 4096`);
    assert.ok(decodeBackupRecord(sliced, sha256));
  }
  const rows = new BackupRows(dataset.listing(false), null, false);
  const odd: PreviousRows = Object.assign(Object.create(rows.asSent()) as PreviousRows, { fileId: (ref: number) => (ref === 300 ? 'not-a-sha1' : rows.fileId(ref)) });
  assert.equal(await encodeBackupRecordInSlices(odd, false, sha256, async () => {}, 97), null, 'a fileID that is not 40 hex digits, in a later slice');
});
