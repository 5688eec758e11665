import type { Database, Sqlite3Static } from '@sqlite.org/sqlite-wasm';
import { CorruptBackupError } from '../../core/errors.ts';
import { decodeMbFile, kindFromFlags, kindFromMode, type EntryKind } from '../mbfile.ts';
import { MbFileFieldReader } from '../mbfile-fields.ts';
import { fileCategory, type FileCategory } from './file-category.ts';

/** A row only one of the two backups has. */
export interface DiffEntry {
  domain: string;
  relativePath: string;
  kind: EntryKind;
  size: number;
  fileID: string;
}

/** What the MBFile metadata says changed between the two versions of a row. */
export type ChangeReason = 'size' | 'modified-time' | 'mode' | 'kind';

/** A row both backups have whose metadata differs. */
export interface ModifiedEntry {
  domain: string;
  relativePath: string;
  kind: EntryKind;
  oldSize: number;
  newSize: number;
  fileID: string;
  reasons: ChangeReason[];
}

/** Counts and bytes of one domain's or category's changes. */
export interface ChangeTally {
  added: number;
  removed: number;
  modified: number;
  /** Bytes of files added / removed, and the size change of modified files. */
  addedBytes: number;
  removedBytes: number;
  modifiedDelta: number;
}

/** A removed and an added file that are probably one file renamed or moved (each is also in added and removed). */
export interface ProbableRename {
  from: DiffEntry;
  to: DiffEntry;
}

export interface ManifestDiff {
  added: DiffEntry[];
  removed: DiffEntry[];
  modified: ModifiedEntry[];
  /** Removed and added files of one domain with the same non-zero size and modification time, paired when that is unambiguous. */
  renamed: ProbableRename[];
  byDomain: Record<string, ChangeTally>;
  byCategory: Partial<Record<FileCategory, ChangeTally>>;
  oldTotals: { rows: number; fileCount: number; totalSize: number };
  newTotals: { rows: number; fileCount: number; totalSize: number };
  unchanged: number;
}

/** The raw WASM exports stepped per row (the wrapped capi converts arguments we do not need converted). */
interface RawSqlite {
  sqlite3_step(stmt: number): number;
  sqlite3_column_int(stmt: number, column: number): number;
  sqlite3_column_text(stmt: number, column: number): number;
  sqlite3_column_blob(stmt: number, column: number): number;
  sqlite3_column_bytes(stmt: number, column: number): number;
}

const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const KINDS: readonly EntryKind[] = ['file', 'directory', 'symlink'];

/** One side of the merge: a statement over Files in fileID order, and the current row's facts. */
class Side {
  private readonly stmt: number;
  done = false;
  rows = 0;
  fileCount = 0;
  totalSize = 0;
  // The current row, as pointers into SQLite's memory (valid until the next step).
  idAt = 0;
  idLength = 0;
  blobAt = 0;
  blobLength = 0;
  flags = 0;
  // Decoded on demand by facts().
  size = 0;
  mode = 0;
  lastModified = 0;
  kind = 0;

  constructor(
    private readonly raw: RawSqlite,
    private readonly sqlite3: Sqlite3Static,
    private readonly db: Database,
    private readonly finalizer: { finalize(): void },
    pointer: number,
    private readonly fields: MbFileFieldReader,
    readonly name: string,
  ) {
    this.stmt = pointer;
  }

  static open(sqlite3: Sqlite3Static, db: Database, fields: MbFileFieldReader, name: string): Side {
    // fileID is the primary key: its index gives the order without a sort.
    const stmt = db.prepare('SELECT fileID, flags, file FROM Files ORDER BY fileID');
    return new Side(sqlite3.wasm.exports as unknown as RawSqlite, sqlite3, db, stmt, stmt.pointer as number, fields, name);
  }

  next(): void {
    const rc = this.raw.sqlite3_step(this.stmt);
    if (rc === SQLITE_DONE) {
      this.done = true;
      return;
    }
    if (rc !== SQLITE_ROW) {
      throw new CorruptBackupError(`${this.name} Manifest.db could not be read to the end (SQLite error ${rc}: ${this.sqlite3.capi.sqlite3_errmsg(this.db.pointer!)}).`);
    }
    const raw = this.raw;
    const p = this.stmt;
    this.idLength = raw.sqlite3_column_bytes(p, 0);
    this.idAt = raw.sqlite3_column_text(p, 0);
    this.flags = raw.sqlite3_column_int(p, 1);
    this.blobLength = raw.sqlite3_column_bytes(p, 2);
    this.blobAt = this.blobLength ? raw.sqlite3_column_blob(p, 2) : 0;
    this.rows++;
    this.facts();
    if (this.kind === 0) {
      this.fileCount++;
      this.totalSize += this.size;
    }
  }

  /** Size, mode, mtime and kind of the current row, read straight from SQLite's memory. */
  private facts(): void {
    const heap = this.sqlite3.wasm.heap8u();
    this.size = 0;
    this.mode = 0;
    this.lastModified = 0;
    if (this.blobAt !== 0) {
      const f = this.fields;
      if (f.read(heap, this.blobAt, this.blobLength)) {
        this.size = f.size;
        this.mode = f.mode;
        this.lastModified = f.lastModified;
      } else {
        try {
          const decoded = decodeMbFile(heap.slice(this.blobAt, this.blobAt + this.blobLength));
          this.size = decoded.size;
          this.mode = decoded.mode;
          this.lastModified = decoded.lastModified;
        } catch {
          // A damaged record reads as empty; the rest of the diff still stands.
        }
      }
    }
    const kind = kindFromFlags(this.flags) ?? kindFromMode(this.mode) ?? 'file';
    this.kind = kind === 'file' ? 0 : kind === 'directory' ? 1 : 2;
  }

  fileID(): string {
    const heap = this.sqlite3.wasm.heap8u();
    let s = '';
    for (let i = 0; i < this.idLength; i++) s += String.fromCharCode(heap[this.idAt + i]!);
    return s;
  }

  finalize(): void {
    this.finalizer.finalize();
  }
}

/** Orders the two current fileIDs bytewise (SQLite's BINARY collation, the index's order). */
function compareIds(heap: Uint8Array, a: Side, b: Side): number {
  const n = Math.min(a.idLength, b.idLength);
  for (let i = 0; i < n; i++) {
    const d = heap[a.idAt + i]! - heap[b.idAt + i]!;
    if (d !== 0) return d;
  }
  return a.idLength - b.idLength;
}

function emptyTally(): ChangeTally {
  return { added: 0, removed: 0, modified: 0, addedBytes: 0, removedBytes: 0, modifiedDelta: 0 };
}

/**
 * Compares two Manifest.db files row by row in fileID order (a fileID is the SHA-1 of
 * "domain-relativePath", so the same file has the same fileID in both): one merge over the
 * primary-key index, nothing per unchanged row but a few typed reads of SQLite's memory. A row is
 * "modified" when its MBFile size, modification time, mode or kind differ (read straight from the
 * blob in SQLite's memory). Domains and paths are fetched only for rows that changed.
 */
export function diffManifests(sqlite3: Sqlite3Static, oldDb: Database, newDb: Database): ManifestDiff {
  const fields = new MbFileFieldReader();
  const older = Side.open(sqlite3, oldDb, fields, 'The earlier backup’s');
  let newer: Side | undefined;
  const addedIds: { id: string; kind: number; size: number; mtime: number }[] = [];
  const removedIds: { id: string; kind: number; size: number; mtime: number }[] = [];
  const modifiedIds: { id: string; kind: number; oldSize: number; newSize: number; reasons: ChangeReason[] }[] = [];
  let unchanged = 0;
  try {
    newer = Side.open(sqlite3, newDb, fields, 'The later backup’s');
    older.next();
    newer.next();
    while (!older.done || !newer.done) {
      const heap = sqlite3.wasm.heap8u();
      const order = older.done ? 1 : newer.done ? -1 : compareIds(heap, older, newer);
      if (order < 0) {
        removedIds.push({ id: older.fileID(), kind: older.kind, size: older.kind === 0 ? older.size : 0, mtime: older.lastModified });
        older.next();
      } else if (order > 0) {
        addedIds.push({ id: newer.fileID(), kind: newer.kind, size: newer.kind === 0 ? newer.size : 0, mtime: newer.lastModified });
        newer.next();
      } else {
        // Only these four count: anything else (a new wrapped key, inode, status-change time) is
        // the same file recorded again. Folders' times change with their contents, so not theirs.
        const sizeChanged = older.size !== newer.size && (older.kind === 0 || newer.kind === 0);
        const timeChanged = older.lastModified !== newer.lastModified && older.kind !== 1;
        if (older.kind === newer.kind && !sizeChanged && !timeChanged && older.mode === newer.mode) {
          unchanged++;
        } else {
          const reasons: ChangeReason[] = [];
          if (older.kind !== newer.kind) reasons.push('kind');
          if (sizeChanged) reasons.push('size');
          if (timeChanged) reasons.push('modified-time');
          if (older.mode !== newer.mode) reasons.push('mode');
          modifiedIds.push({
            id: older.fileID(),
            kind: newer.kind,
            oldSize: older.kind === 0 ? older.size : 0,
            newSize: newer.kind === 0 ? newer.size : 0,
            reasons,
          });
        }
        older.next();
        newer.next();
      }
    }
  } catch (cause) {
    if (cause instanceof CorruptBackupError) throw cause;
    throw new CorruptBackupError(`Manifest.db: ${(cause as Error).message}`, cause);
  } finally {
    older.finalize();
    newer?.finalize();
  }

  const oldPaths = pathsOf(oldDb, [...removedIds.map((r) => r.id), ...modifiedIds.map((r) => r.id)]);
  const newPaths = pathsOf(newDb, addedIds.map((r) => r.id));
  const byDomain: Record<string, ChangeTally> = {};
  const byCategory: Partial<Record<FileCategory, ChangeTally>> = {};
  // Files and links are counted; folders come and go with them and would count every change twice.
  const tallies = (domain: string, relativePath: string, kind: EntryKind): ChangeTally[] => {
    if (kind === 'directory') return [];
    const category = fileCategory(domain, relativePath);
    return [(byDomain[domain] ??= emptyTally()), (byCategory[category] ??= emptyTally())];
  };
  const entry = (r: { id: string; kind: number; size: number }, paths: Map<string, [string, string]>): DiffEntry => {
    const [domain, relativePath] = paths.get(r.id) ?? ['', ''];
    return { domain, relativePath, kind: KINDS[r.kind]!, size: r.size, fileID: r.id };
  };
  const added = addedIds.map((r) => entry(r, newPaths));
  for (const e of added) for (const t of tallies(e.domain, e.relativePath, e.kind)) {
    t.added++;
    t.addedBytes += e.size;
  }
  const removed = removedIds.map((r) => entry(r, oldPaths));
  for (const e of removed) for (const t of tallies(e.domain, e.relativePath, e.kind)) {
    t.removed++;
    t.removedBytes += e.size;
  }
  const modified = modifiedIds.map((r): ModifiedEntry => {
    const [domain, relativePath] = oldPaths.get(r.id) ?? ['', ''];
    for (const t of tallies(domain, relativePath, KINDS[r.kind]!)) {
      t.modified++;
      t.modifiedDelta += r.newSize - r.oldSize;
    }
    return { domain, relativePath, kind: KINDS[r.kind]!, oldSize: r.oldSize, newSize: r.newSize, fileID: r.id, reasons: r.reasons };
  });
  const byPath = (a: { domain: string; relativePath: string }, b: { domain: string; relativePath: string }) =>
    a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : a.relativePath < b.relativePath ? -1 : a.relativePath > b.relativePath ? 1 : 0;
  added.sort(byPath);
  removed.sort(byPath);
  modified.sort(byPath);
  const mtimes = new Map<string, number>();
  for (const r of [...addedIds, ...removedIds]) mtimes.set(r.id, r.mtime);
  return {
    added,
    removed,
    modified,
    renamed: probableRenames(removed, added, mtimes),
    byDomain,
    byCategory,
    oldTotals: { rows: older.rows, fileCount: older.fileCount, totalSize: older.totalSize },
    newTotals: { rows: newer!.rows, fileCount: newer!.fileCount, totalSize: newer!.totalSize },
    unchanged,
  };
}

/**
 * Pairs removed and added files that look like one file under a new name: same domain, same
 * non-zero size, same modification time (a rename keeps both), and only one candidate each way.
 */
function probableRenames(removed: DiffEntry[], added: DiffEntry[], mtimes: Map<string, number>): ProbableRename[] {
  const keyOf = (e: DiffEntry) => `${e.domain}\u0000${e.size}\u0000${mtimes.get(e.fileID) ?? 0}`;
  const group = (list: DiffEntry[]) => {
    const out = new Map<string, DiffEntry[]>();
    for (const e of list) {
      if (e.kind !== 'file' || e.size === 0) continue;
      const k = keyOf(e);
      const bucket = out.get(k);
      if (bucket) bucket.push(e);
      else out.set(k, [e]);
    }
    return out;
  };
  const gone = group(removed);
  const came = group(added);
  const out: ProbableRename[] = [];
  for (const [k, from] of gone) {
    const to = came.get(k);
    if (from.length === 1 && to?.length === 1) out.push({ from: from[0]!, to: to[0]! });
  }
  return out;
}

/** domain and relativePath of the given fileIDs, in batches (the changed rows only). */
function pathsOf(db: Database, ids: string[]): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  const BATCH = 20_000;
  for (let at = 0; at < ids.length; at += BATCH) {
    const rows = db.selectArrays('SELECT fileID, domain, relativePath FROM Files WHERE fileID IN (SELECT value FROM json_each(?))', [
      JSON.stringify(ids.slice(at, at + BATCH)),
    ]);
    for (const [id, domain, relativePath] of rows) out.set(String(id), [String(domain ?? ''), String(relativePath ?? '')]);
  }
  return out;
}
