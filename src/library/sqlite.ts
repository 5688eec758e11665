import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import type { Database, Sqlite3Static } from '@sqlite.org/sqlite-wasm';
import { CorruptBackupError } from '../core/errors.ts';

export type { Database } from '@sqlite.org/sqlite-wasm';

let loading: Promise<Sqlite3Static> | undefined;

/** One SQLite WASM instance per worker/process, loaded on first use. */
export function loadSqlite(): Promise<Sqlite3Static> {
  loading ??= sqlite3InitModule();
  return loading;
}

const SQLITE_MAGIC = 'SQLite format 3\0';

/**
 * Opens database bytes as a private in-memory database (nothing is written anywhere). Backup
 * databases arrive with WAL set in their header (bytes 18/19 = 2), which an in-memory
 * database refuses, so the copy is switched to rollback-journal mode first. `name` is only for
 * error messages.
 */
export async function openDatabaseBytes(bytes: Uint8Array, name: string): Promise<Database> {
  const sqlite3 = await loadSqlite();
  if (bytes.length < 100 || new TextDecoder().decode(bytes.subarray(0, 16)) !== SQLITE_MAGIC) {
    throw new CorruptBackupError(`“${name}” is not an SQLite database (or it is still encrypted).`);
  }
  const capi = sqlite3.capi;
  const db = new sqlite3.oo1.DB(':memory:');
  const pointer = sqlite3.wasm.allocFromTypedArray(bytes);
  const heap = sqlite3.wasm.heap8u();
  if (heap[pointer + 18] === 2) heap[pointer + 18] = 1;
  if (heap[pointer + 19] === 2) heap[pointer + 19] = 1;
  const rc = capi.sqlite3_deserialize(
    db.pointer!,
    'main',
    pointer,
    bytes.length,
    bytes.length,
    capi.SQLITE_DESERIALIZE_FREEONCLOSE | capi.SQLITE_DESERIALIZE_RESIZEABLE,
  );
  if (rc !== 0) {
    db.close();
    throw new CorruptBackupError(`“${name}” could not be opened as a database (SQLite error ${rc}).`);
  }
  try {
    // Touch the schema now so a damaged file fails here, with its name, not on a later query.
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
