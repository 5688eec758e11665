// For an incremental backup the virtual iPhone brings the host's previous Manifest.db up to date
// instead of building it again: only the rows whose fingerprint differs are written. The result must
// hold exactly the rows a whole new build holds, byte for byte; anything it cannot update in place is
// refused (ManifestPatchError), and the device then builds a whole new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatBytes } from '../../src/core/bytes.ts';
import { Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { buildDatabase, exportDatabase, openDatabase } from '../../src/virtual-iphone/dataset/sqlite.ts';
import {
  buildManifestDb,
  manifestRow,
  ManifestPatchError,
  patchManifestDb,
  readManifestDb,
  rowFingerprint,
  type ManifestRow,
  type PreviousRow,
} from '../../src/virtual-iphone/services/mobilebackup2/manifest.ts';
import { BackupRows } from '../../src/virtual-iphone/services/mobilebackup2/backup-rows.ts';
import type { PreviousRows, ReadRows } from '../../src/virtual-iphone/services/mobilebackup2/previous-rows.ts';

type Row = [string, string, string, number, string];

async function rowsOf(bytes: Uint8Array): Promise<Row[]> {
  const db = await openDatabase(bytes);
  try {
    assert.equal(db.selectValue('PRAGMA integrity_check'), 'ok');
    return db
      .selectArrays('SELECT fileID, domain, relativePath, flags, hex(file) FROM Files ORDER BY fileID')
      .map((r) => [String(r[0]), String(r[1]), String(r[2]), Number(r[3]), String(r[4])]);
  } finally {
    db.close();
  }
}

/** Encrypted-style rows: every fifth file has a key, kept across generations as the device keeps it. */
function rowsFor(dataset: Dataset): ManifestRow[] {
  return dataset.entries(false).map((e) => manifestRow(e, e.kind === 'file' && e.inode % 5 === 0 ? new Uint8Array(40).fill(e.inode % 251) : undefined));
}

function plan(rows: readonly ManifestRow[], previous: ReadRows): { changed: ManifestRow[]; deleted: string[] } {
  const current = new Set(rows.map((r) => r.fileId));
  return {
    changed: rows.filter((r) => previous.get(r.fileId)?.fingerprint !== rowFingerprint(r)),
    deleted: [...previous.keys()].filter((id) => !current.has(id)),
  };
}

test('an updated Manifest.db holds the rows a whole new build holds, and only the changed ones were written', async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 11 });
  const before = await buildManifestDb(rowsFor(dataset));
  const previous = await readManifestDb(before);
  assert.ok(previous);

  // Nothing changed: every row keeps its fingerprint.
  assert.deepEqual(plan(rowsFor(dataset), previous), { changed: [], deleted: [] });

  const summary = dataset.mutate(7, { everyday: true });
  const rows = rowsFor(dataset);
  const { changed, deleted } = plan(rows, previous);
  assert.ok(summary.modified.length > 0 && summary.removed.length > 0 && summary.added.length > 0);
  assert.ok(changed.length >= summary.modified.length + summary.added.length, `${changed.length} rows changed`);
  assert.ok(changed.length < rows.length / 4, `${changed.length} of ${rows.length} rows written: not a rebuild`);
  assert.ok(deleted.length >= summary.removed.length);

  // As the device receives it: in chunks (cut here at 64 KiB, the smallest it uses).
  const chunks = Array.from({ length: Math.ceil(before.byteLength / 65536) }, (_, i) => before.subarray(i * 65536, (i + 1) * 65536));
  assert.deepEqual([...((await readManifestDb(chunks, 0)) ?? [])].sort(), [...previous].sort(), 'the chunks read in place give the same rows');
  const patched = await patchManifestDb(chunks, changed, deleted, rows.length);
  assert.ok(patched.slice(0, -1).every((part, i) => part.buffer === before.buffer && part.byteOffset === i * 65536), 'written over the chunks it came in');
  assert.deepEqual(await rowsOf(concatBytes(patched)), await rowsOf(await buildManifestDb(rows)));
});

test('the rows a device keeps as sent say what the Manifest.db it built or updated says (SentRows)', async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 12 });
  const first = new BackupRows(dataset.listing(false), null, false);
  const built = await buildManifestDb(first.rows());
  const said = (r: Omit<PreviousRow, 'fingerprint'>, fingerprint: number) => ({ fileId: r.fileId, flags: r.flags, size: r.size, lastModified: r.lastModified, encryptionKey: r.encryptionKey, fingerprint });
  const byId = (rows: (readonly [string, ReturnType<typeof said>])[]) => rows.sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const read = (m: ReadRows | null) => byId([...(m ?? [])].map(([id, r]) => [id, said(r, r.fingerprint)] as const));
  const sent = (rows: PreviousRows) =>
    byId(
      Array.from({ length: rows.count }, (_, ref) => {
        const fileId = rows.fileId(ref);
        return [fileId, said({ fileId, flags: rows.flags(ref), size: rows.size(ref), lastModified: rows.lastModified(ref), encryptionKey: rows.encryptionKey(ref) }, rows.fingerprint(ref))] as const;
      }),
    );
  assert.deepEqual(sent(first.asSent()), read(await readManifestDb(built)));
  assert.deepEqual(sent(first.asSent()), read(await readManifestDb(built, 0)), 'read in place too');

  // The next backup matches the sent rows by slot, and by fileID what was renamed, replaced or removed.
  const summary = dataset.mutate(7, { everyday: true });
  const next = new BackupRows(dataset.listing(false), first.asSent(), false);
  const changed = next.changedRows();
  assert.ok(changed.length >= summary.modified.length + summary.added.length && changed.length < next.length / 4, `${changed.length} of ${next.length} rows written`);
  assert.ok(next.deletedFileIds().length >= summary.removed.length);
  const patched = await patchManifestDb(built.slice(), changed, next.deletedFileIds(), next.length);
  assert.deepEqual(await rowsOf(concatBytes(patched)), await rowsOf(await buildManifestDb(next.rows())));
  assert.deepEqual(sent(next.asSent()), read(await readManifestDb(concatBytes(patched))));
});

test('an encrypted backup’s rows kept as sent say what its Manifest.db says, keys included, and so do the next ones', async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 13 });
  let generation = 0;
  // Each upload gets a new key, as the device makes them; an unchanged file keeps the one it had.
  const keyFor = (i: number): Uint8Array => new Uint8Array(44).map((_, b) => (i * 31 + b + generation * 7) & 0xff);
  const keyed = (rows: BackupRows): BackupRows => {
    for (let i = 0; i < rows.length; i++) {
      if (rows.list.kind(i) !== 'file') continue;
      const ref = rows.refs ? rows.refs[i]! : -1;
      const unchanged = ref >= 0 && rows.previous!.size(ref) === rows.list.size(i) && rows.previous!.lastModified(ref) === rows.list.mtime(i);
      rows.keys!.set(i, unchanged ? rows.previous!.encryptionKey(ref) : keyFor(i));
    }
    return rows;
  };
  const said = (rows: PreviousRows) =>
    Array.from({ length: rows.count }, (_, ref) => [rows.fileId(ref), rows.flags(ref), rows.size(ref), rows.lastModified(ref), rows.encryptionKey(ref), rows.fingerprint(ref)] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const first = keyed(new BackupRows(dataset.listing(true), null, true));
  const built = await buildManifestDb(first.rows());
  const read = await readManifestDb(built);
  assert.ok(read);
  assert.deepEqual(said(first.asSent()), said(read));
  assert.ok(said(read).filter((row) => row[4]).length > 100, 'with keys');

  generation++;
  const summary = dataset.mutate(9, { everyday: true });
  const next = keyed(new BackupRows(dataset.listing(true), first.asSent(), true));
  const changed = next.changedRows();
  assert.ok(changed.length >= summary.modified.length + summary.added.length && changed.length < next.length / 4, `${changed.length} of ${next.length} rows written`);
  const patched = await patchManifestDb(built.slice(), changed, next.deletedFileIds(), next.length);
  assert.deepEqual(await rowsOf(concatBytes(patched)), await rowsOf(await buildManifestDb(next.rows())));
  const readNext = await readManifestDb(concatBytes(patched));
  assert.ok(readNext);
  assert.deepEqual(said(next.asSent()), said(readNext));
  // The same plan from rows read back (an older copy, or one the device did not send).
  const fromRead = keyed(new BackupRows(dataset.listing(true), read, true));
  assert.deepEqual(fromRead.changedRows().map((r) => r.fileId).sort(), changed.map((r) => r.fileId).sort());
  assert.deepEqual(fromRead.deletedFileIds().sort(), next.deletedFileIds().sort());
});

test('a row differing in any field the device writes gets another fingerprint', () => {
  const entry = { domain: 'AppDomain-x', relativePath: 'Documents/a.bin', kind: 'file', size: 10, mode: 0o100644, mtime: 1_700_000_000, protectionClass: 3, inode: 9, content: null } as const;
  const base = rowFingerprint(manifestRow({ ...entry }));
  assert.equal(rowFingerprint(manifestRow({ ...entry })), base);
  const variants = [
    { ...entry, size: 11 },
    { ...entry, mode: 0o100600 },
    { ...entry, mtime: entry.mtime + 1 },
    { ...entry, protectionClass: 4 },
    { ...entry, inode: 10 },
    { ...entry, relativePath: 'Documents/b.bin' },
    { ...entry, domain: 'AppDomain-y' },
    { ...entry, kind: 'symlink', target: '/x' },
  ] as const;
  for (const v of variants) assert.notEqual(rowFingerprint(manifestRow({ ...v })), base, JSON.stringify(v));
  assert.notEqual(rowFingerprint(manifestRow({ ...entry }, new Uint8Array(40))), base, 'an encryption key');
  assert.notEqual(rowFingerprint(manifestRow({ ...entry }, new Uint8Array(40).fill(1))), rowFingerprint(manifestRow({ ...entry }, new Uint8Array(40))), 'another key');
});

test('a row’s fingerprint is the one its written MBFile reads back as, odd values included', async () => {
  const entry = { domain: 'AppDomain-x', relativePath: 'Documents/a.bin', kind: 'file', size: 10, mode: 0o100644, mtime: 1_700_000_000, protectionClass: 3, inode: 9, content: null } as const;
  const rows = [
    manifestRow({ ...entry }),
    manifestRow({ ...entry, relativePath: 'MBFile' }), // the class name's text is the path's
    manifestRow({ ...entry, relativePath: 'Documents/link', kind: 'symlink', size: 0, mode: 0o120755, target: 'Documents/link' }),
    manifestRow({ ...entry, relativePath: 'Documents/other-link', kind: 'symlink', size: 0, mode: 0o120755, target: '/private/var/x' }),
    manifestRow({ ...entry, relativePath: 'Documents/dir', kind: 'dir', size: 77, mode: 0o40755 }), // a folder's Size is written as 0
    manifestRow({ ...entry, relativePath: 'Documents/old', mtime: -86_400, inode: 2 ** 40 }),
    manifestRow({ ...entry, relativePath: 'Documents/keyed' }, new Uint8Array(44).fill(7)),
  ];
  const previous = await readManifestDb(await buildManifestDb(rows));
  assert.ok(previous);
  for (const row of rows) assert.equal(rowFingerprint(row), previous.get(row.fileId)?.fingerprint, row.relativePath);
  assert.ok(Number.isNaN(rowFingerprint(manifestRow({ ...entry, mtime: 2 ** 53 + 2 }))), 'past 2^53: equal to nothing');
});

test('a previous Manifest.db that cannot be updated in place is refused', async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 12 });
  const rows = rowsFor(dataset);
  const good = await buildManifestDb(rows);

  const otherSchema = await buildDatabase((db) => {
    db.exec('CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB)');
  });
  await assert.rejects(patchManifestDb(otherSchema, rows, [], rows.length), ManifestPatchError);

  // A row the device cannot read back (no MBFile) would survive an update: refused, not carried over.
  const db = await openDatabase(good);
  let withStray: Uint8Array;
  try {
    db.exec("INSERT INTO Files VALUES ('ffffffffffffffffffffffffffffffffffffffff', 'HomeDomain', 'stray', 1, NULL)");
    withStray = exportDatabase(db);
  } finally {
    db.close();
  }
  const previous = await readManifestDb(withStray);
  assert.ok(previous && !previous.has('ffffffffffffffffffffffffffffffffffffffff'));
  const strayCopy = withStray.slice();
  await assert.rejects(patchManifestDb(withStray, [], [], rows.length), /has \d+ rows, not \d+/);
  assert.deepEqual(withStray, strayCopy, 'a refused update leaves the previous database as it was');
  await assert.rejects(patchManifestDb(new Uint8Array(8192).fill(7), [], [], 0), ManifestPatchError);
});
