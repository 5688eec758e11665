// A database can arrive in chunks, written straight into SQLite's memory (Manifest.db of a 1.3M-file
// backup is 1.2 GB): it must open exactly as the whole bytes do, survive SQLite's memory growing between
// chunks, and refuse a file that ends early, runs long or is not SQLite with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CorruptBackupError } from '../../src/core/errors.ts';
import { loadSqlite, openDatabaseBytes, openDatabaseChunks } from '../../src/library/sqlite.ts';

async function sampleDatabase(): Promise<Uint8Array> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    db.exec('PRAGMA page_size = 1024; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, blob BLOB)');
    db.exec('BEGIN');
    for (let i = 0; i < 3000; i++) db.exec({ sql: 'INSERT INTO t VALUES (?, ?, randomblob(100))', bind: [i, `row ${i}`] });
    db.exec('COMMIT');
    return sqlite3.capi.sqlite3_js_db_export(db);
  } finally {
    db.close();
  }
}

function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.subarray(at, at + size);
}

test('a database read in chunks opens as its whole bytes do, even when SQLite memory grows between chunks', async () => {
  const bytes = await sampleDatabase();
  assert.ok(bytes.byteLength > 300_000);
  const whole = await openDatabaseBytes(bytes, 'whole.db');
  const expected = whole.selectArrays('SELECT id, name, hex(blob) FROM t ORDER BY id');
  whole.close();

  const sqlite3 = await loadSqlite();
  const blocks: number[] = [];
  async function* growing(): AsyncGenerator<Uint8Array> {
    for (const piece of pieces(bytes, 7_777)) {
      yield piece;
      // Other work in the same SQLite instance while the file is being read: its memory may grow and move.
      if (blocks.length < 4) blocks.push(sqlite3.wasm.alloc(16 << 20));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const db = await openDatabaseChunks(bytes.byteLength, growing(), 'chunks.db');
  try {
    assert.equal(blocks.length, 4);
    assert.deepEqual(db.selectArrays('SELECT id, name, hex(blob) FROM t ORDER BY id'), expected);
    assert.equal(db.selectValue('PRAGMA integrity_check'), 'ok');
  } finally {
    db.close();
    for (const block of blocks) sqlite3.wasm.dealloc(block);
  }
});

test('a database of at most `size` bytes (upTo: decrypted as it arrives) opens from what arrives', async () => {
  const bytes = await sampleDatabase();
  const db = await openDatabaseChunks(bytes.byteLength + 16, pieces(bytes, 4096), 'Manifest.db', true);
  try {
    assert.equal(db.selectValue('PRAGMA integrity_check'), 'ok');
    const whole = await openDatabaseBytes(bytes, 'Manifest.db');
    const names = 'SELECT name FROM sqlite_master ORDER BY name';
    assert.deepEqual(db.selectValues(names), whole.selectValues(names));
    whole.close();
  } finally {
    db.close();
  }
  await assert.rejects(openDatabaseChunks(bytes.byteLength - 1, pieces(bytes, 4096), 'Manifest.db', true), /grew while it was being read/);
  await assert.rejects(openDatabaseChunks(4096, [bytes.subarray(0, 60)], 'Manifest.db', true), /not an SQLite database/);
});

test('a database that ends early, runs long or is not SQLite is refused by name, and its memory is given back', async () => {
  const bytes = await sampleDatabase();
  const size = bytes.byteLength;
  await assert.rejects(openDatabaseChunks(size, pieces(bytes.subarray(0, size - 1), 4096), 'Manifest.db'), (e: unknown) => e instanceof CorruptBackupError && /ended after \d+ of its \d+ bytes/.test(e.message));
  await assert.rejects(openDatabaseChunks(size - 1, pieces(bytes, 4096), 'Manifest.db'), (e: unknown) => e instanceof CorruptBackupError && /grew while it was being read/.test(e.message));
  const garbage = bytes.slice();
  garbage[3] ^= 0xff;
  await assert.rejects(openDatabaseChunks(size, pieces(garbage, 4096), 'Manifest.db'), (e: unknown) => e instanceof CorruptBackupError && /not an SQLite database/.test(e.message));
  await assert.rejects(openDatabaseChunks(50, [bytes.subarray(0, 50)], 'tiny.db'), /not an SQLite database/);
  // A damaged page table: SQLite refuses it on the first query.
  const damaged = bytes.slice();
  damaged.fill(0xee, 100, 1024);
  await assert.rejects(openDatabaseChunks(size, pieces(damaged, 4096), 'damaged.db'), (e: unknown) => e instanceof CorruptBackupError && /damaged\.db/.test(e.message));

  // Each refusal frees its block: 600 refused 8 MB reads (4.8 GB) fit only if each block was freed.
  const big = new Uint8Array(8 << 20);
  big.set(bytes.subarray(0, 100));
  for (let i = 0; i < 600; i++) {
    await assert.rejects(openDatabaseChunks(big.byteLength + 1, [big], 'big.db'), /ended after/);
  }
  const db = await openDatabaseChunks(size, pieces(bytes, 65536), 'after.db');
  assert.equal(db.selectValue('SELECT count(*) FROM t'), 3000);
  db.close();
});
