// The in-place SQLite scanner against SQLite itself: databases written by SQLite WASM and by the
// Debian sqlite3 tool (page sizes 512–65536, reserved bytes, UTF-16, overflow chains, every value
// type, ALTER TABLE columns, an INTEGER PRIMARY KEY) must scan to exactly what `SELECT rowid, *`
// returns; damage (loops, bad pointers, short files) must be a CorruptBackupError naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptBackupError } from '../../src/core/errors.ts';
import { loadSqlite } from '../../src/library/sqlite.ts';
import { SqliteFileScanner } from '../../src/library/sqlite-scan/sqlite-file-scanner.ts';
import type { RangeReader } from '../../src/library/sqlite-scan/range-reader.ts';
import type { SqlValue } from '../../src/library/sqlite-scan/record.ts';
import { tableShapeOf } from '../../src/library/sqlite-scan/schema.ts';
import { decryptingReader, scanManifestRowBatches, scanManifestRows } from '../../src/library/manifest-scan.ts';
import { ManifestDb } from '../../src/library/manifest-db.ts';

function memoryReader(bytes: Uint8Array, reads?: number[]): RangeReader {
  return {
    size: bytes.length,
    async read(start, end) {
      reads?.push(end - start);
      return bytes.slice(start, Math.min(end, bytes.length));
    },
  };
}

/** Runs `sql` in a fresh SQLite WASM database and exports it. */
async function wasmDatabase(sql: string): Promise<Uint8Array> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    db.exec(sql);
    return sqlite3.capi.sqlite3_js_db_export(db);
  } finally {
    db.close();
  }
}

/** What SQLite itself returns for `SELECT rowid, * FROM table`. */
async function sqliteRows(bytes: Uint8Array, table: string): Promise<SqlValue[][]> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    const p = sqlite3.wasm.allocFromTypedArray(bytes);
    const rc = sqlite3.capi.sqlite3_deserialize(db.pointer!, 'main', p, bytes.length, bytes.length, sqlite3.capi.SQLITE_DESERIALIZE_FREEONCLOSE);
    assert.equal(rc, 0);
    return db.selectArrays(`SELECT rowid, * FROM "${table}" ORDER BY rowid`, undefined) as SqlValue[][];
  } finally {
    db.close();
  }
}

async function scanned(bytes: Uint8Array, table: string): Promise<SqlValue[][]> {
  const scanner = await SqliteFileScanner.open(memoryReader(bytes), 'test.db');
  const t = await scanner.table(table);
  assert.ok(t, `table ${table}`);
  const out: SqlValue[][] = [];
  for await (const row of scanner.rows(t.rootPage, t.shape.columns.length)) {
    if (t.shape.rowidColumn >= 0) row.values[t.shape.rowidColumn] = row.rowid;
    out.push([row.rowid, ...row.values]);
  }
  return out;
}

/** bigint and number compare by value (SQLite WASM hands back numbers where they are exact). */
function normal(rows: SqlValue[][]): unknown[][] {
  return rows.map((r) => r.map((v) => (typeof v === 'bigint' ? `big:${v}` : typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v) ? `big:${BigInt(v)}` : v instanceof Uint8Array ? `hex:${Buffer.from(v).toString('hex')}` : v)));
}

const VALUES_SQL = (pageSize: number) => `PRAGMA page_size=${pageSize};
  CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, "odd, name" BLOB, n, r REAL);
  WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 3000)
  INSERT INTO t (a, "odd, name", n, r) SELECT
    'row ' || i || ' ' || hex(randomblob(i % 40)) || CASE WHEN i % 97 = 0 THEN 'é€😀' ELSE '' END,
    CASE WHEN i % 500 = 0 THEN randomblob(70000 + i) WHEN i % 3 = 0 THEN randomblob(i % 700) ELSE NULL END,
    CASE i % 9 WHEN 0 THEN 0 WHEN 1 THEN 1 WHEN 2 THEN -i WHEN 3 THEN i * 1000 WHEN 4 THEN i * 100000000 WHEN 5 THEN -9007199254740993 - i WHEN 6 THEN 9223372036854775807 - i WHEN 7 THEN -128 ELSE i * -70000 END,
    i / 7.0
  FROM k;
  ALTER TABLE t ADD COLUMN late TEXT DEFAULT NULL;
  UPDATE t SET late = 'late ' || id WHERE id % 11 = 0;
  DELETE FROM t WHERE id % 13 = 0;`;

for (const pageSize of [512, 1024, 4096, 65536]) {
  test(`scans what SQLite reads: ${pageSize}-byte pages, every value type, overflow rows, a late column`, async () => {
    const bytes = await wasmDatabase(VALUES_SQL(pageSize));
    assert.deepEqual(normal(await scanned(bytes, 't')), normal(await sqliteRows(bytes, 't')));
  });
}

/** A database written by the Debian sqlite3 tool (another writer than SQLite WASM); undefined when it is not installed. */
async function toolDatabase(dir: string, name: string, script: string): Promise<Uint8Array | undefined> {
  const path = join(dir, name);
  const r = spawnSync('sqlite3', ['-batch', path], { input: script, encoding: 'utf8' });
  if (r.error) return undefined;
  assert.equal(r.status, 0, r.stderr);
  return new Uint8Array(await readFile(path));
}

test('scans what the sqlite3 tool wrote: reserved bytes at each page end, UTF-16 text', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-scan-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const reserved = await toolDatabase(dir, 'reserved.db', `.filectrl reserve_bytes 32\n${VALUES_SQL(2048)}\nVACUUM;\n`);
  if (!reserved) return t.skip('sqlite3 is not installed');
  assert.equal(reserved[20], 32, 'reserved bytes per page');
  assert.deepEqual(normal(await scanned(reserved, 't')), normal(await sqliteRows(reserved, 't')));
  for (const [encoding, code] of [['UTF-16le', 2], ['UTF-16be', 3]] as const) {
    const utf16 = (await toolDatabase(dir, `${encoding}.db`, `PRAGMA encoding='${encoding}';\n${VALUES_SQL(1024)}\n`))!;
    assert.equal(utf16[59], code, encoding);
    // SQLite WASM will not deserialize a UTF-16 database into its UTF-8 connection, so the tool itself is the peer here.
    const r = spawnSync('sqlite3', ['-json', join(dir, `${encoding}.db`), `SELECT rowid AS k, a, hex("odd, name") AS b, CAST(n AS TEXT) AS n, late FROM t ORDER BY rowid`], { encoding: 'utf8', maxBuffer: 1 << 28 });
    const expected = JSON.parse(r.stdout) as unknown[];
    const actual = (await scanned(utf16, 't')).map(([k, , a, b, n, , late]) => ({
      k, a, b: b instanceof Uint8Array ? Buffer.from(b).toString('hex').toUpperCase() : '', n: n === null ? null : String(n), late,
    }));
    assert.equal(actual.length, 2770);
    assert.deepEqual(actual, expected);
  }
});

test('a Manifest.db scanned in place gives the rows the in-memory reader gives, reading a window at a time', async () => {
  const bytes = await wasmDatabase(`CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
    CREATE INDEX FilesDomainIdx ON Files(domain); CREATE INDEX FilesRelativePathIdx ON Files(relativePath);
    CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);
    WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 20000)
    INSERT INTO Files SELECT lower(hex(randomblob(20))), 'AppDomain-com.example.' || (i % 37), 'Library/d' || (i % 50) || '/f' || i, CASE WHEN i % 10 = 0 THEN 2 ELSE 1 END, randomblob(300 + i % 400) FROM k;`);
  const reads: number[] = [];
  const rows = [];
  for await (const row of scanManifestRows(memoryReader(bytes, reads))) rows.push(row);
  const db = await ManifestDb.open(bytes);
  try {
    const expected = [...db.rows()].sort((a, b) => (a.fileID < b.fileID ? -1 : 1));
    rows.sort((a, b) => (a.fileID < b.fileID ? -1 : 1));
    assert.equal(rows.length, 20000);
    assert.deepEqual(rows, expected);
  } finally {
    db.close();
  }
  assert.ok(Math.max(...reads) <= 1 << 20, `largest read ${Math.max(...reads)} bytes`);
  assert.ok(bytes.length > 4 << 20, 'the database is bigger than one window');

  // A page's rows at a time, blobs as views of the pages read: the same rows.
  const batched = [];
  let views = 0;
  for await (const batch of scanManifestRowBatches(memoryReader(bytes), true)) {
    assert.ok(batch.length > 0);
    for (const row of batch) {
      if (row.blob && row.blob.byteLength < row.blob.buffer.byteLength) views++;
      batched.push({ ...row, blob: row.blob?.slice() });
    }
  }
  batched.sort((a, b) => (a.fileID < b.fileID ? -1 : 1));
  assert.deepEqual(batched, rows);
  assert.ok(views > 10000, `${views} blobs were views`);
});

test('an encrypted Manifest.db is scanned in place through CBC slices with the right IVs', async () => {
  const plain = await wasmDatabase(`PRAGMA page_size=4096; CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
    WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 8000)
    INSERT INTO Files SELECT printf('%040d', i), 'HomeDomain', 'Library/f' || i, 1, randomblob(200) FROM k;`);
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const key = await crypto.subtle.importKey('raw', raw, 'AES-CBC', false, ['encrypt', 'decrypt']);
  const cipher = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, plain as Uint8Array<ArrayBuffer>));
  const reader = await decryptingReader(memoryReader(cipher), key, 'Manifest.db');
  assert.equal(reader.size, plain.length);
  assert.deepEqual(await reader.read(5000, 5100), plain.subarray(5000, 5100));
  let n = 0;
  for await (const row of scanManifestRows(reader)) {
    n++;
    assert.equal(row.relativePath, `Library/f${Number(row.fileID)}`);
  }
  assert.equal(n, 8000);
  const wrong = await crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-CBC', false, ['encrypt', 'decrypt']);
  await assert.rejects(async () => {
    for await (const _ of scanManifestRows(await decryptingReader(memoryReader(cipher), wrong, 'Manifest.db'))) break;
  }, CorruptBackupError);
});

test('column names come from the CREATE TABLE statement, quotes and constraints understood', () => {
  assert.deepEqual(tableShapeOf('CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB)'), {
    columns: ['fileID', 'domain', 'relativePath', 'flags', 'file'], rowidColumn: -1, withoutRowid: false,
  });
  assert.deepEqual(tableShapeOf('CREATE TABLE "a b"(id INTEGER PRIMARY KEY, [x,y] TEXT CHECK (length(x) > 0), `z` DEFAULT \'(,)\', PRIMARY KEY (x), UNIQUE(z))'), {
    columns: ['id', 'x,y', 'z'], rowidColumn: 0, withoutRowid: false,
  });
  assert.equal(tableShapeOf('CREATE TABLE k (a TEXT PRIMARY KEY, b) WITHOUT ROWID')?.withoutRowid, true);
  assert.equal(tableShapeOf('CREATE TABLE x AS SELECT 1'), undefined);
});

test('damage is a CorruptBackupError naming the file: loops, pointers off the end, short files, bad page sizes', async () => {
  const good = await wasmDatabase(VALUES_SQL(1024));
  const scanAll = async (bytes: Uint8Array) => {
    for await (const _ of (await SqliteFileScanner.open(memoryReader(bytes), 'test.db')).rows(1, 5)) void 0;
    await scanned(bytes, 't');
  };
  const rootOf = async (bytes: Uint8Array) => (await (await SqliteFileScanner.open(memoryReader(bytes), 'x')).table('t'))!.rootPage;
  const root = await rootOf(good);
  const page = (n: number) => (n - 1) * 1024;

  const loop = good.slice();
  assert.equal(loop[page(root)], 0x05, 'the root of t is an interior page');
  new DataView(loop.buffer).setUint32(page(root) + 8, root); // right child → itself
  await assert.rejects(scanAll(loop), (e: Error) => e instanceof CorruptBackupError && /test\.db/.test(e.message) && /loop/.test(e.message));

  const offEnd = good.slice();
  new DataView(offEnd.buffer).setUint32(page(root) + 8, 999999);
  await assert.rejects(scanAll(offEnd), /points to page 999999/);

  const badCell = good.slice();
  new DataView(badCell.buffer).setUint16(page(root) + 12, 1023);
  await assert.rejects(scanAll(badCell), CorruptBackupError);

  await assert.rejects(scanAll(good.subarray(0, page(root) + 100)), CorruptBackupError);
  const badSize = good.slice();
  new DataView(badSize.buffer).setUint16(16, 1000);
  await assert.rejects(scanAll(badSize), /page size/);
  await assert.rejects(scanAll(new Uint8Array(4096)), /not an SQLite database/);
});
