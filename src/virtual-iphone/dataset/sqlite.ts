import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { inRollbackJournalMode } from '../../library/sqlite.ts';

type Sqlite3 = Awaited<ReturnType<typeof sqlite3InitModule>>;
export type SqliteDatabase = InstanceType<Sqlite3['oo1']['DB']>;

let modulePromise: Promise<Sqlite3> | undefined;
let loaded: Sqlite3 | undefined;

/** The SQLite WASM module, loaded once per process/worker. */
export function loadSqlite(): Promise<Sqlite3> {
  modulePromise ??= sqlite3InitModule().then((m) => (loaded = m));
  return modulePromise;
}

/**
 * Edits a database file image synchronously and returns the new image: for Dataset.mutate(), which
 * is synchronous and runs after Dataset.create() has loaded the module.
 */
export function editDatabaseSync(bytes: Uint8Array, edit: (db: SqliteDatabase) => void): Uint8Array {
  const sqlite3 = loaded;
  if (!sqlite3) throw new Error('editDatabaseSync: the SQLite module is not loaded yet (await loadSqlite() first)');
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    const pointer = sqlite3.wasm.allocFromTypedArray(bytes);
    const flags = sqlite3.capi.SQLITE_DESERIALIZE_FREEONCLOSE | sqlite3.capi.SQLITE_DESERIALIZE_RESIZEABLE;
    const rc = sqlite3.capi.sqlite3_deserialize(db.pointer!, 'main', pointer, bytes.byteLength, bytes.byteLength, flags);
    if (rc !== 0) throw new Error(`not a SQLite database (sqlite3_deserialize returned ${rc})`);
    edit(db);
    return Uint8Array.from(sqlite3.capi.sqlite3_js_db_export(db));
  } finally {
    db.close();
  }
}

/** Builds an in-memory database with `build` and returns its file image. */
export async function buildDatabase(build: (db: SqliteDatabase) => void): Promise<Uint8Array> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    build(db);
    return exportDatabase(db);
  } finally {
    db.close();
  }
}

/**
 * The database's file image, copied out page by page (sqlite_dbpage). sqlite3_serialize would first
 * copy the whole image inside WASM memory, which has 2 GB in all: a huge dataset's Manifest.db (over
 * 1 GB) and its copy do not fit there together.
 */
export function exportDatabase(db: SqliteDatabase): Uint8Array {
  const pageSize = Number(db.selectValue('PRAGMA page_size'));
  const pageCount = Number(db.selectValue('PRAGMA page_count'));
  const image = new Uint8Array(pageSize * pageCount);
  const stmt = db.prepare('SELECT pgno, data FROM sqlite_dbpage');
  try {
    while (stmt.step()) {
      const page = stmt.get(1) as Uint8Array;
      image.set(page, (Number(stmt.get(0)) - 1) * pageSize);
    }
  } finally {
    stmt.finalize();
  }
  return image;
}

/** Opens a database file image (e.g. a host's Manifest.db) in memory; close it when done. */
export async function openDatabase(bytes: Uint8Array): Promise<SqliteDatabase> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  const pointer = sqlite3.wasm.allocFromTypedArray(bytes);
  // A host may keep Manifest.db in WAL mode; taken for no database, it would cost an incremental backup.
  if (bytes.byteLength >= 100) inRollbackJournalMode(sqlite3.wasm.heap8u(), Number(pointer));
  const flags = sqlite3.capi.SQLITE_DESERIALIZE_FREEONCLOSE | sqlite3.capi.SQLITE_DESERIALIZE_RESIZEABLE;
  const rc = sqlite3.capi.sqlite3_deserialize(db.pointer!, 'main', pointer, bytes.byteLength, bytes.byteLength, flags);
  if (rc !== 0) {
    db.close();
    throw new Error(`not a SQLite database (sqlite3_deserialize returned ${rc})`);
  }
  return db;
}

/** sqlite3_serialize's flag for "the database's own buffer, not a copy" (sqlite3.h). */
const SQLITE_SERIALIZE_NOCOPY = 0x001;

/** `image` copied over `parts` in order: the parts it fills (cut to what it fills) and a new one for the rest. */
function writeOver(parts: readonly Uint8Array[], image: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const part of parts) {
    if (at === image.byteLength) break;
    const n = Math.min(part.byteLength, image.byteLength - at);
    part.set(image.subarray(at, at + n));
    out.push(part.subarray(0, n));
    at += n;
  }
  if (at < image.byteLength) out.push(image.slice(at));
  return out;
}

/**
 * Edits a copy of a database file image (whole or in chunks) placed in a fixed WASM buffer `room` bytes
 * bigger than the image, and returns the edited image. The buffer never grows (an edit that needs more
 * fails with SQLITE_FULL), so a 1.19 GB image is in WASM memory once: a resizeable one is reallocated at
 * twice its size, and sqlite3_serialize would copy it inside WASM memory first; here it is read out directly.
 *
 * The edited image is written back over `file` (plus one new piece for what no longer fits), which the
 * caller must not use afterwards: fresh memory for another 1.19 GB costs seconds of page faults and a
 * garbage collection per 64 MB on a big heap. `file` is untouched when the edit throws.
 */
export async function patchDatabase(file: Uint8Array | readonly Uint8Array[], room: number, edit: (db: SqliteDatabase) => void): Promise<Uint8Array[]> {
  const sqlite3 = await loadSqlite();
  const { wasm, capi } = sqlite3;
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    const parts = file instanceof Uint8Array ? [file] : file;
    const size = parts.reduce((n, part) => n + part.byteLength, 0);
    const capacity = size + room;
    const pointer = wasm.alloc(capacity);
    const heap = wasm.heap8u();
    let at = Number(pointer);
    for (const part of parts) {
      heap.set(part, at);
      at += part.byteLength;
    }
    if (size >= 100) inRollbackJournalMode(heap, Number(pointer));
    // With FREEONCLOSE SQLite owns the buffer from here, even when it refuses it.
    const rc = capi.sqlite3_deserialize(db.pointer!, 'main', pointer, size, capacity, capi.SQLITE_DESERIALIZE_FREEONCLOSE);
    if (rc !== 0) throw new Error(`not a SQLite database (sqlite3_deserialize returned ${rc})`);
    edit(db);
    const scope = wasm.scopedAllocPush();
    try {
      const sizeOut = wasm.scopedAlloc(8);
      const image = Number(wasm.exports.sqlite3_serialize(db.pointer!, 0, sizeOut, SQLITE_SERIALIZE_NOCOPY));
      const imageSize = Number(wasm.peek(sizeOut, 'i64'));
      if (image === 0) throw new Error('sqlite3_serialize gave no buffer for a deserialized database');
      return writeOver(parts, wasm.heap8u().subarray(image, image + imageSize));
    } finally {
      wasm.scopedAllocPop(scope);
    }
  } finally {
    db.close();
  }
}
