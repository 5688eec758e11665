// A database read in place (sqlite-in-place.ts): SQLite asks for pages through a synchronous reader
// instead of a copy of the whole file in its memory. It must answer as the copy does, read only the
// pages a query needs, own and close the file, and refuse or fail cleanly on a file that is not SQLite
// or is cut short. The Library opens a backup's Manifest.db this way wherever the source can.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptBackupError } from '../../src/core/errors.ts';
import { loadSqlite, openDatabaseBytes, openDatabaseFile } from '../../src/library/sqlite.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import type { FileRead } from '../../src/core/file-read.ts';
import { MVT_BACKUP } from '../helpers/fixtures.ts';

async function sampleDatabase(): Promise<Uint8Array> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    db.exec('PRAGMA page_size = 4096; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, blob BLOB); CREATE INDEX t_name ON t(name)');
    db.exec('BEGIN');
    for (let i = 0; i < 20_000; i++) db.exec({ sql: 'INSERT INTO t VALUES (?, ?, randomblob(200))', bind: [i, `row ${(i * 7919) % 20_000}`] });
    db.exec('COMMIT');
    return sqlite3.capi.sqlite3_js_db_export(db);
  } finally {
    db.close();
  }
}

/** `bytes` as a FileRead that counts what is read and how often it is closed. */
function memoryFile(bytes: Uint8Array): FileRead & { bytesRead: number; reads: number; closes: number } {
  const file = {
    size: bytes.byteLength,
    bytesRead: 0,
    reads: 0,
    closes: 0,
    read(into: Uint8Array, at: number): number {
      const n = Math.max(0, Math.min(into.byteLength, bytes.byteLength - at));
      into.set(bytes.subarray(at, at + n));
      file.bytesRead += n;
      file.reads++;
      return n;
    },
    close(): void {
      file.closes++;
    },
  };
  return file;
}

test('in place: a database answers as its copy does, reads only what a lookup needs, and is closed with the database', async () => {
  const bytes = await sampleDatabase();
  assert.ok(bytes.byteLength > 4_000_000, `sample database: ${bytes.byteLength} bytes`);
  const copy = await openDatabaseBytes(bytes, 'copy.db');
  const queries = ['SELECT id, name, hex(blob) FROM t ORDER BY id', 'SELECT id FROM t ORDER BY name, id', 'SELECT count(*), sum(length(blob)) FROM t', 'SELECT id FROM t ORDER BY hex(blob) LIMIT 50'];
  const expected = queries.map((q) => copy.selectArrays(q));
  copy.close();

  const file = memoryFile(bytes);
  const db = await openDatabaseFile(file, 'sample.db');
  try {
    file.bytesRead = 0;
    assert.deepEqual(db.selectArrays('SELECT name FROM t WHERE id = 12345'), [[`row ${(12345 * 7919) % 20_000}`]]);
    assert.ok(file.bytesRead < 64 * 1024, `one row looked up by its key read ${file.bytesRead} bytes`);
    // A scan reads ahead instead of asking for each of its 1,000+ pages.
    file.reads = 0;
    assert.deepEqual(db.selectArrays(queries[0]!), expected[0]);
    assert.ok(file.reads < bytes.byteLength / 4096 / 10, `a scan of ${bytes.byteLength / 4096} pages took ${file.reads} reads`);
    // Then the rest, with a sort bigger than SQLite's page cache, done in memory (the VFS opens no temporary file).
    queries.forEach((q, i) => assert.deepEqual(db.selectArrays(q), expected[i], q));
    assert.equal(db.selectValue('PRAGMA integrity_check'), 'ok');
    assert.throws(() => db.exec('INSERT INTO t VALUES (-1, 1, 1)'), /readonly|read-only/i);
    assert.equal(file.closes, 0);
  } finally {
    db.close();
  }
  assert.equal(file.closes, 1);
});

test('in place: a header that says WAL (as backups carry it, without a -wal file) opens as rollback mode', async () => {
  const bytes = (await sampleDatabase()).slice();
  bytes[18] = 2;
  bytes[19] = 2;
  const db = await openDatabaseFile(memoryFile(bytes), 'wal-header.db');
  try {
    assert.equal(db.selectValue('SELECT count(*) FROM t'), 20_000);
    assert.equal(db.selectValue('PRAGMA journal_mode'), 'delete');
  } finally {
    db.close();
  }
  assert.equal(bytes[18], 2, 'the file itself is never changed');
});

test('in place: a file that is not SQLite, or one cut short, is refused by name and closed', async () => {
  const notSqlite = memoryFile(new TextEncoder().encode('bplist00'.padEnd(4096, '\0')));
  await assert.rejects(openDatabaseFile(notSqlite, 'Manifest.db'), (e: unknown) => e instanceof CorruptBackupError && /“Manifest\.db” is not an SQLite database/.test(e.message));
  assert.equal(notSqlite.closes, 1);

  const bytes = await sampleDatabase();
  const cut = memoryFile(bytes.subarray(0, Math.floor(bytes.byteLength / 2)));
  // The header's page count says how long the file is: caught before any query reaches the missing pages.
  await assert.rejects(openDatabaseFile(cut, 'cut.db'), (e: unknown) => e instanceof CorruptBackupError && /“cut\.db” is cut short/.test(e.message));
  assert.equal(cut.closes, 1);
});

test('the Library reads a plain Manifest.db in place from a folder, with the same answers as a copy in memory', async () => {
  const opened: string[] = [];
  class CountingSource extends NodeFsSource {
    override async fileRead(path: string): Promise<FileRead | null> {
      opened.push(path);
      return super.fileRead(path);
    }
  }
  class CopyingSource extends NodeFsSource {
    override async fileRead(): Promise<FileRead | null> {
      return null;
    }
  }
  const inPlace = await BackupReader.open(new CountingSource(MVT_BACKUP));
  const copied = await BackupReader.open(new CopyingSource(MVT_BACKUP));
  try {
    assert.deepEqual(opened, ['Manifest.db']);
    assert.equal(inPlace.manifest.rowCount, copied.manifest.rowCount);
    assert.deepEqual(inPlace.summary(), copied.summary());
    assert.deepEqual(inPlace.manifest.list('HomeDomain', 'Library/SMS/'), copied.manifest.list('HomeDomain', 'Library/SMS/'));
    assert.deepEqual(inPlace.manifest.search('sms'), copied.manifest.search('sms'));
    assert.deepEqual([...inPlace.manifest.rows()].length, [...copied.manifest.rows()].length);
  } finally {
    inPlace.close();
    copied.close();
  }
});

test('NodeFsSource.fileRead: refuses a symlink in the last part and reports a missing file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-in-place-'));
  try {
    writeFileSync(join(dir, 'real.db'), 'x');
    const { symlinkSync } = await import('node:fs');
    symlinkSync(join(dir, 'real.db'), join(dir, 'Manifest.db'));
    const source = new NodeFsSource(dir);
    await assert.rejects(source.fileRead('Manifest.db'), /symlink/);
    await assert.rejects(source.fileRead('missing.db'), /missing\.db/);
    const file = await source.fileRead('real.db');
    assert.ok(file);
    assert.equal(file.size, 1);
    file.close();
    file.close(); // a second close is harmless
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
