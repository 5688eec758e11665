import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import type { Database, Sqlite3Static } from '@sqlite.org/sqlite-wasm';
import { CorruptBackupError, LifeboatError } from '../core/errors.ts';
import type { FileRead } from '../core/file-read.ts';
import { openDatabaseInPlace } from './sqlite-in-place.ts';

export type { Database } from '@sqlite.org/sqlite-wasm';

let loading: Promise<Sqlite3Static> | undefined;

/** One SQLite WASM instance per worker/process, loaded on first use. */
export function loadSqlite(): Promise<Sqlite3Static> {
  loading ??= sqlite3InitModule();
  return loading;
}

const SQLITE_MAGIC = 'SQLite format 3\0';

const notSqlite = (name: string): CorruptBackupError => new CorruptBackupError(`“${name}” is not an SQLite database (or it is still encrypted).`);

/**
 * Switches a database image in WAL mode (header bytes 18/19, write and read version, set to 2) to
 * rollback-journal mode, where it lies in SQLite's memory: an in-memory database refuses WAL mode.
 */
export function inRollbackJournalMode(heap: Uint8Array, pointer: number): void {
  if (heap[pointer + 18] === 2) heap[pointer + 18] = 1;
  if (heap[pointer + 19] === 2) heap[pointer + 19] = 1;
}

/**
 * Opens database bytes as a private in-memory database (nothing is written anywhere). Backup
 * databases arrive with WAL set in their header (bytes 18/19 = 2), which an in-memory
 * database refuses, so the copy is switched to rollback-journal mode first. `name` is only for
 * error messages.
 */
export function openDatabaseBytes(bytes: Uint8Array, name: string): Promise<Database> {
  return openDatabaseChunks(bytes.length, [bytes], name);
}

/**
 * Opens a database file of `size` bytes that arrives in chunks, each written straight into the block
 * SQLite then owns: a 1.3M-file backup's Manifest.db is 1.2 GB, and reading it whole into JS memory
 * first and copying it in held it twice (2.4 GB in one browser worker). Each chunk is copied before the
 * next is asked for, so chunks may be views of one reused buffer (blobChunks). With `upTo`, `size` is
 * the most the file can be (a decrypted one is up to a block shorter than its ciphertext).
 */
export async function openDatabaseChunks(size: number, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, name: string, upTo = false): Promise<Database> {
  const sqlite3 = await loadSqlite();
  if (size < 100) throw notSqlite(name);
  let pointer: number;
  try {
    pointer = sqlite3.wasm.alloc(size);
  } catch (cause) {
    throw new LifeboatError('unsupported', `“${name}” (${Math.round(size / 1e6)} MB) does not fit in the memory SQLite can use here.`, {
      action: 'Close other tabs, or open the backup on a computer with more memory.',
      cause,
    });
  }
  let owned = false;
  try {
    let at = 0;
    for await (const chunk of chunks) {
      if (at + chunk.byteLength > size) throw new CorruptBackupError(`“${name}” grew while it was being read.`);
      // Fetched again each time: SQLite's memory may have grown (and moved) while this waited.
      sqlite3.wasm.heap8u().set(chunk, pointer + at);
      at += chunk.byteLength;
    }
    if (!upTo && at !== size) throw new CorruptBackupError(`“${name}” ended after ${at} of its ${size} bytes.`);
    if (at < 100) throw notSqlite(name);
    const heap = sqlite3.wasm.heap8u();
    if (new TextDecoder().decode(heap.subarray(pointer, pointer + 16)) !== SQLITE_MAGIC) throw notSqlite(name);
    inRollbackJournalMode(heap, pointer);
    const capi = sqlite3.capi;
    const db = new sqlite3.oo1.DB(':memory:');
    const rc = capi.sqlite3_deserialize(db.pointer!, 'main', pointer, at, size, capi.SQLITE_DESERIALIZE_FREEONCLOSE | capi.SQLITE_DESERIALIZE_RESIZEABLE);
    // SQLite owns the block from here, even when it refuses it (FREEONCLOSE frees it then too).
    owned = true;
    if (rc !== 0) {
      db.close();
      throw new CorruptBackupError(`“${name}” could not be opened as a database (SQLite error ${rc}).`);
    }
    return schemaChecked(db, name);
  } finally {
    if (!owned) sqlite3.wasm.dealloc(pointer);
  }
}

/**
 * Opens a database file read-only where it lies, read through `file` as SQLite asks for pages: nothing
 * is copied into SQLite's memory first (see sqlite-in-place.ts). The database owns `file` from here,
 * and closes it with itself or when opening fails. `name` is only for error messages.
 */
export async function openDatabaseFile(file: FileRead, name: string): Promise<Database> {
  let sqlite3: Sqlite3Static;
  try {
    sqlite3 = await loadSqlite();
    const head = new Uint8Array(100);
    if (file.size < 100 || file.read(head, 0) < 100 || new TextDecoder().decode(head.subarray(0, 16)) !== SQLITE_MAGIC) throw notSqlite(name);
    const pages = pagesInHeader(head);
    if (pages !== undefined && pages.bytes > file.size) {
      throw new CorruptBackupError(`“${name}” is cut short: its header says ${pages.bytes} bytes, and ${file.size} are there.`);
    }
  } catch (e) {
    file.close();
    throw e;
  }
  return schemaChecked(openDatabaseInPlace(sqlite3, file), name);
}

/**
 * The database's length by its header (page size × "in-header database size"), when the header vouches
 * for it: the size is valid only where the change counter matches "version-valid-for" (sqlite.org
 * fileformat2, §1.3.7). A file shorter than that was cut short; reading it in place would otherwise
 * find out only when a query reaches the missing pages.
 */
function pagesInHeader(head: Uint8Array): { bytes: number } | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const rawPageSize = view.getUint16(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const pageCount = view.getUint32(28);
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0 || pageCount === 0) return undefined;
  if (view.getUint32(24) !== view.getUint32(92)) return undefined;
  return { bytes: pageSize * pageCount };
}

/** `db`, once its schema reads: a damaged file fails here, with its name, not on a later query (and is closed). */
function schemaChecked(db: Database, name: string): Database {
  try {
    db.selectValue('SELECT count(*) FROM sqlite_master');
  } catch (cause) {
    db.close();
    throw new CorruptBackupError(`“${name}” is damaged: ${(cause as Error).message}`, cause);
  }
  return db;
}

export type Row = Record<string, string | number | bigint | Uint8Array | null>;

/** Runs a query and returns plain row objects; SQLite errors become CorruptBackupError naming the database. */
export function selectRows(db: Database, sql: string, bind: (string | number | null)[] = [], name = 'database'): Row[] {
  try {
    return db.selectObjects(sql, bind) as Row[];
  } catch (cause) {
    throw new CorruptBackupError(`“${name}”: ${(cause as Error).message}`, cause);
  }
}

export function tableExists(db: Database, table: string): boolean {
  return db.selectValue("SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?", [table]) === 1;
}

export function columnsOf(db: Database, table: string): Set<string> {
  return new Set((db.selectObjects(`PRAGMA table_info("${table.replace(/"/g, '""')}")`) as { name: string }[]).map((c) => c.name));
}
