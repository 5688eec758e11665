import { CorruptBackupError } from '../core/errors.ts';
import { decodeMbFile, kindFromFlags, kindFromMode, type EntryKind, type MbFile } from './mbfile.ts';
import { ManifestIndex } from './manifest-index.ts';
import type { Sqlite3Static } from '@sqlite.org/sqlite-wasm';
import { loadSqlite, openDatabaseBytes, openDatabaseChunks, openDatabaseFile, tableExists, type Database } from './sqlite.ts';
import type { FileRead } from '../core/file-read.ts';
import { inPlaceReadFailure } from './sqlite-in-place.ts';

/** One Manifest.db row as the browser shows it. */
export interface ManifestEntry {
  fileID: string;
  domain: string;
  relativePath: string;
  /** Last path component ("" for a domain root). */
  name: string;
  flags: number;
  kind: EntryKind;
}

export interface DomainSummary {
  domain: string;
  count: number;
}

/**
 * The parent-folder key of a relativePath, computed inside SQLite so it can be indexed:
 * rtrim strips every trailing character that is not "/", leaving "a/b/" for "a/b/c" and ""
 * for a top-level name. A listing of folder P therefore asks for key (P === "" ? "" : P + "/").
 */
const PARENT_EXPR = "rtrim(relativePath, replace(relativePath, '/', ''))";

function parentKey(path: string): string {
  const clean = path.replace(/^\/+|\/+$/g, '');
  return clean === '' ? '' : `${clean}/`;
}

function nameOf(relativePath: string): string {
  const slash = relativePath.lastIndexOf('/');
  return slash < 0 ? relativePath : relativePath.slice(slash + 1);
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Totals for the backup summary: rows that are regular files, and the sum of their MBFile sizes. */
export interface ManifestTotals {
  fileCount: number;
  totalSize: number;
}

/**
 * A decrypted Manifest.db, held in memory. Lookups by fileID and (domain, relativePath) use the
 * database's own indexes; folder listing, search, the domain list and the totals use a
 * ManifestIndex built in one pass the first time any of them is asked for (about a second at a
 * million rows, instead of the 13–25 s an extra SQLite index took to build).
 */
export class ManifestDb {
  private readonly blobs = new Map<string, MbFile>();
  /** undefined: not built yet; null: cannot be built (a WITHOUT ROWID table), so SQL is used. */
  private pathIndex: ManifestIndex | null | undefined;

  private constructor(
    readonly db: Database,
    private readonly sqlite3: Sqlite3Static,
    /** An encrypted file read in place: decrypts ahead of a scan (see prepareIndexAsync). */
    private readonly readAhead?: () => Promise<void>,
  ) {}

  /**
   * Manifest.db's bytes, whole or as `size` bytes arriving in chunks (read straight into SQLite's
   * memory); with `upTo`, `size` is the most they can be (decrypted as they arrive). Or, `inPlace`, a
   * plaintext Manifest.db read where it lies as SQLite needs its pages (it then owns the file).
   */
  static async open(file: Uint8Array | { size: number; chunks: AsyncIterable<Uint8Array>; upTo?: boolean } | { inPlace: FileRead & { readAhead?: () => Promise<void> } }): Promise<ManifestDb> {
    const sqlite3 = await loadSqlite();
    const db =
      file instanceof Uint8Array
        ? await openDatabaseBytes(file, 'Manifest.db')
        : 'inPlace' in file
          ? await openDatabaseFile(file.inPlace, 'Manifest.db')
          : await openDatabaseChunks(file.size, file.chunks, 'Manifest.db', file.upTo);
    try {
      if (!tableExists(db, 'Files')) throw new CorruptBackupError('Manifest.db has no Files table.');
      // Nothing here reads the rows: counting them read 816 MB of an encrypted 1.3M-file Manifest.db in
      // place (its index pages lie among the table's). The index is built next, from one pass.
      return new ManifestDb(db, sqlite3, typeof file === 'object' && 'inPlace' in file ? file.inPlace.readAhead : undefined);
    } catch (cause) {
      db.close();
      if (cause instanceof CorruptBackupError) throw cause;
      throw new CorruptBackupError(`Manifest.db is damaged: ${(cause as Error).message}`, cause);
    }
  }

  /** The rows of Files: from the index (built on first use) where there is one. */
  get rowCount(): number {
    return this.index()?.rowCount ?? Number(this.db.selectValue('SELECT count(*) FROM Files'));
  }

  close(): void {
    this.pathIndex = undefined;
    this.db.close();
  }

  /**
   * Builds the in-memory index now (it is otherwise built on first use). The worker can call this
   * right after opening so the first listing does not wait for it.
   */
  prepareIndex(): void {
    this.index();
  }

  /**
   * prepareIndex, letting an encrypted Manifest.db read in place have its pages decrypted ahead of the scan
   * by WebCrypto (its file's readAhead, awaited every few rows by ManifestIndex.buildAsync). Nothing else
   * may use this database until it settles.
   */
  async prepareIndexAsync(): Promise<void> {
    const readAhead = this.readAhead;
    if (!readAhead || this.pathIndex !== undefined) {
      this.index();
      return;
    }
    if (!hasRowid(this.db)) {
      this.pathIndex = null;
      return;
    }
    try {
      this.pathIndex = await ManifestIndex.buildAsync(this.sqlite3, this.db, readAhead);
    } catch (cause) {
      throw this.failed(cause);
    }
  }

  private index(): ManifestIndex | null {
    if (this.pathIndex !== undefined) return this.pathIndex;
    if (!hasRowid(this.db)) {
      this.pathIndex = null;
      return null;
    }
    try {
      this.pathIndex = ManifestIndex.build(this.sqlite3, this.db);
    } catch (cause) {
      throw this.failed(cause);
    }
    return this.pathIndex;
  }

  /** File count and total size for the summary (from the index, so one pass serves both). */
  totals(): ManifestTotals {
    const index = this.index();
    if (index) return { fileCount: index.fileCount, totalSize: index.totalSize };
    let fileCount = 0;
    let totalSize = 0;
    for (const row of this.rows()) {
      if (row.kind !== 'file') continue;
      fileCount++;
      totalSize += row.blob ? sizeOfBlob(row.blob) : 0;
    }
    return { fileCount, totalSize };
  }

  /** Index rows as entries, in `order`, with the kinds the index decided (no blob is decoded again). */
  private entriesOf(index: ManifestIndex, rows: number[], order: 'rowid' | 'relativePath'): ManifestEntry[] {
    if (rows.length === 0) return [];
    const kinds = new Map<number, EntryKind>();
    for (const row of rows) kinds.set(index.rowid(row), index.kindOf(row));
    const found = this.query(
      `SELECT rowid AS lifeboat_rowid, fileID, domain, relativePath, flags FROM Files
       WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY ${order === 'rowid' ? 'rowid' : 'relativePath'}`,
      [JSON.stringify([...kinds.keys()])],
    );
    return found.map((r) => this.toEntry(r, kinds.get(Number(r['lifeboat_rowid']))));
  }

  private query(sql: string, bind: (string | number)[] = []): Record<string, unknown>[] {
    try {
      return this.db.selectObjects(sql, bind) as Record<string, unknown>[];
    } catch (cause) {
      throw this.failed(cause);
    }
  }

  /** A query's failure as the person should read it: the file read where it lies may have changed under it. */
  private failed(cause: unknown): CorruptBackupError {
    const read = inPlaceReadFailure(this.db);
    if (read) {
      return new CorruptBackupError(
        `Manifest.db could not be read any more (${read.name === 'NotReadableError' ? 'it changed on disk' : read.message}) since this backup was opened. Open the backup again.`,
        read,
      );
    }
    return cause instanceof CorruptBackupError ? cause : new CorruptBackupError(`Manifest.db: ${(cause as Error).message}`, cause);
  }

  private toEntry(row: Record<string, unknown>, known?: EntryKind): ManifestEntry {
    const relativePath = String(row['relativePath'] ?? '');
    const flags = Number(row['flags'] ?? 0);
    let kind = known ?? kindFromFlags(flags);
    // Some writers (pyiosbackup's vectors) leave flags 0: fall back to the MBFile mode.
    if (!kind) kind = kindFromMode(this.metadata(String(row['fileID']))?.mode ?? 0) ?? 'file';
    return { fileID: String(row['fileID']), domain: String(row['domain']), relativePath, name: nameOf(relativePath), flags, kind };
  }

  domains(): DomainSummary[] {
    const index = this.index();
    if (index) return index.domains();
    return this.query('SELECT domain, count(*) AS n FROM Files GROUP BY domain ORDER BY domain').map((r) => ({
      domain: String(r['domain']),
      count: Number(r['n']),
    }));
  }

  /** Direct children of folder `path` in `domain` ("" = the domain root). */
  list(domain: string, path: string): ManifestEntry[] {
    const index = this.index();
    if (index) return this.entriesOf(index, index.children(domain, parentKey(path)), 'relativePath');
    const rows = this.query(
      `SELECT fileID, domain, relativePath, flags FROM Files
       WHERE domain = ? AND ${PARENT_EXPR} = ? AND relativePath <> '' ORDER BY relativePath`,
      [domain, parentKey(path)],
    );
    return rows.map((r) => this.toEntry(r));
  }

  /**
   * Case-insensitive substring search over relativePath, in table order, at most `limit` rows
   * (negative: no limit). Runs over the index's lowercased path text, not SQLite.
   */
  search(text: string, limit = 500): ManifestEntry[] {
    const index = this.index();
    if (index) return this.entriesOf(index, index.search(text, limit < 0 ? Infinity : limit), 'rowid');
    const pattern = `%${escapeLike(text)}%`;
    const rows = this.query(
      `SELECT fileID, domain, relativePath, flags FROM Files WHERE relativePath LIKE ? ESCAPE '\\' LIMIT ?`,
      [pattern, limit],
    );
    return rows.map((r) => this.toEntry(r));
  }

  get(fileID: string): ManifestEntry | undefined {
    const row = this.query('SELECT fileID, domain, relativePath, flags FROM Files WHERE fileID = ?', [fileID])[0];
    return row ? this.toEntry(row) : undefined;
  }

  find(domain: string, relativePath: string): ManifestEntry | undefined {
    const row = this.query(
      'SELECT fileID, domain, relativePath, flags FROM Files WHERE domain = ? AND relativePath = ?',
      [domain, relativePath],
    )[0];
    return row ? this.toEntry(row) : undefined;
  }

  /** Rows of `domain` whose relativePath starts with `prefix`. */
  findUnder(domain: string, prefix: string): ManifestEntry[] {
    const rows = this.query(
      `SELECT fileID, domain, relativePath, flags FROM Files
       WHERE domain = ? AND relativePath >= ? AND relativePath < ? ORDER BY relativePath`,
      [domain, prefix, `${prefix}\u{10FFFF}`],
    );
    return rows.map((r) => this.toEntry(r));
  }

  /** The decoded MBFile of a row (cached); undefined when the row has no blob. */
  metadata(fileID: string): MbFile | undefined {
    const cached = this.blobs.get(fileID);
    if (cached) return cached;
    const blob = this.query('SELECT file FROM Files WHERE fileID = ?', [fileID])[0]?.['file'];
    if (!(blob instanceof Uint8Array)) return undefined;
    const decoded = decodeMbFile(blob);
    if (this.blobs.size > 50_000) this.blobs.clear();
    this.blobs.set(fileID, decoded);
    return decoded;
  }

  /** Every row, in (domain, relativePath) order (or row-id order, as a scan in place gives them), without holding them all at once. */
  *rows(order: 'path' | 'rowid' = 'path'): Generator<ManifestEntry & { blob: Uint8Array | undefined }> {
    const stmt = this.db.prepare(`SELECT fileID, domain, relativePath, flags, file FROM Files ORDER BY ${order === 'rowid' ? 'rowid' : 'domain, relativePath'}`);
    try {
      while (stmt.step()) {
        const row = stmt.get({}) as Record<string, unknown>;
        const blob = row['file'] instanceof Uint8Array ? (row['file'] as Uint8Array) : undefined;
        yield manifestRowOf(String(row['fileID']), String(row['domain']), String(row['relativePath'] ?? ''), Number(row['flags'] ?? 0), blob);
      }
    } finally {
      stmt.finalize();
    }
  }
}

/**
 * One row as callers see it, however it was read (SQLite or the in-place scanner): its kind from
 * `flags`, or — some writers (pyiosbackup's vectors) leave flags 0 — from the MBFile mode.
 */
export function manifestRowOf(fileID: string, domain: string, relativePath: string, flags: number, blob: Uint8Array | undefined): ManifestEntry & { blob: Uint8Array | undefined } {
  let kind = kindFromFlags(flags);
  if (!kind && blob) kind = kindFromMode(safeMode(blob)) ?? 'file';
  return { fileID, domain, relativePath, name: nameOf(relativePath), flags, kind: kind ?? 'file', blob };
}

function hasRowid(db: Database): boolean {
  try {
    db.selectValue('SELECT rowid FROM Files LIMIT 0');
    return true;
  } catch {
    return false;
  }
}

function sizeOfBlob(blob: Uint8Array): number {
  try {
    return decodeMbFile(blob).size;
  } catch {
    return 0;
  }
}

function safeMode(blob: Uint8Array): number {
  try {
    return decodeMbFile(blob).mode;
  } catch {
    return 0;
  }
}
