import type { Database, Sqlite3Static } from '@sqlite.org/sqlite-wasm';
import { CorruptBackupError } from '../core/errors.ts';
import { decodeMbFile, kindFromFlags, kindFromMode, type EntryKind } from './mbfile.ts';
import { MbFileFieldReader } from './mbfile-fields.ts';

/** The raw WASM exports the scan calls per row (the wrapped capi adds argument conversion we do not need). */
interface RawSqlite {
  sqlite3_step(stmt: number): number;
  sqlite3_column_double(stmt: number, column: number): number;
  sqlite3_column_int(stmt: number, column: number): number;
  sqlite3_column_text(stmt: number, column: number): number;
  sqlite3_column_blob(stmt: number, column: number): number;
  sqlite3_column_bytes(stmt: number, column: number): number;
  sqlite3_column_type(stmt: number, column: number): number;
}

const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const SQLITE_BLOB = 4;

/** Rows per search chunk: keeps each haystack string far below V8's string length limit. */
const CHUNK_ROWS = 1 << 16;
const NO_GROUP = 0xffffffff;
/** Rows between two pauses of buildAsync: about 1 MB of a 1.3M-file Manifest.db, half a read-ahead window. */
const ROWS_BETWEEN = 1024;

export const KIND_CODES: readonly EntryKind[] = ['file', 'directory', 'symlink'];

/** One slice of the search haystack: lowercased relativePaths joined by NUL, and where each starts. */
interface SearchChunk {
  text: string;
  /** Start of row i of this chunk in `text`; one extra entry at the end. */
  starts: Uint32Array;
  firstRow: number;
}

/**
 * What folder listing, search, the domain list and the summary totals need, built in one
 * streaming pass over Files in rowid order — no SQLite index is created (building the old
 * (domain, parent) expression index took 13–25 s at a million rows). Per row it keeps only
 * typed-array entries; the paths themselves live once, lowercased, in the search chunks.
 */
export class ManifestIndex {
  private constructor(
    readonly rowCount: number,
    private readonly rowids: Float64Array,
    private readonly kinds: Uint8Array,
    private readonly domainIds: Map<string, number>,
    private readonly domainNames: string[],
    private readonly domainCounts: number[],
    private readonly foldersByDomain: Map<string, number>[],
    /** Rows of group g are groupRows[groupStarts[g] .. groupStarts[g + 1]), in rowid order. */
    private readonly groupStarts: Uint32Array,
    private readonly groupRows: Uint32Array,
    private readonly chunks: SearchChunk[],
    readonly fileCount: number,
    readonly totalSize: number,
  ) {}

  static build(sqlite3: Sqlite3Static, db: Database): ManifestIndex {
    const steps = ManifestIndex.steps(sqlite3, db);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * build, awaiting `between` every ROWS_BETWEEN rows: where SQLite reads an encrypted Manifest.db whose
   * pages another thread decrypts ahead of it (DecryptingFileRead.readAhead), the scan waits for them there.
   * Nothing else may use `db` until this settles.
   */
  static async buildAsync(sqlite3: Sqlite3Static, db: Database, between: () => Promise<void>): Promise<ManifestIndex> {
    const steps = ManifestIndex.steps(sqlite3, db);
    for (;;) {
      await between();
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /** The index's one pass, pausing (yielding) every ROWS_BETWEEN rows. */
  private static *steps(sqlite3: Sqlite3Static, db: Database): Generator<void, ManifestIndex, void> {
    const raw = sqlite3.wasm.exports as RawSqlite;
    const decoder = new TextDecoder();
    const fields = new MbFileFieldReader();
    let capacity = 1 << 16;
    let rowids = new Float64Array(capacity);
    let kinds = new Uint8Array(capacity);
    let groups = new Uint32Array(capacity);
    const domainIds = new Map<string, number>();
    const domainNames: string[] = [];
    const domainCounts: number[] = [];
    /** Per domain: folder key ("" or "a/b/") → group number. */
    const foldersByDomain: Map<string, number>[] = [];
    let groupCount = 0;
    const chunks: SearchChunk[] = [];
    const hay = new HaystackBuilder();
    let fileCount = 0;
    let totalSize = 0;
    let n = 0;
    // Consecutive rows usually share a domain (and often a folder): skip re-decoding the domain.
    let lastDomainBytes = new Uint8Array(0);
    let lastDomainId = -1;

    // The folder of the row before (its domain and "a/b/" bytes): rows of one folder usually follow each other.
    let lastParentDomain = -1;
    let lastParentBytes = new Uint8Array(0);
    let lastGroup = NO_GROUP;

    const stmt = db.prepare('SELECT rowid, domain, relativePath, flags, file FROM Files ORDER BY rowid');
    const p = stmt.pointer as number;
    try {
      let rc: number;
      while ((rc = raw.sqlite3_step(p)) === SQLITE_ROW) {
        if (n === capacity) {
          capacity *= 2;
          rowids = grow(rowids, new Float64Array(capacity));
          kinds = grow(kinds, new Uint8Array(capacity));
          groups = grow(groups, new Uint32Array(capacity));
        }
        rowids[n] = raw.sqlite3_column_double(p, 0);

        let domainId: number;
        const dLength = raw.sqlite3_column_bytes(p, 1);
        const dAt = raw.sqlite3_column_text(p, 1);
        // relativePath stays bytes: the folder is found from its bytes, the search text copied from them.
        const pLength = raw.sqlite3_column_bytes(p, 2);
        const pAt = pLength === 0 ? 0 : raw.sqlite3_column_text(p, 2); // after _bytes: the text form stays valid
        // Fetched after the text columns: converting a value to text may grow (and move) SQLite's memory.
        const heap = sqlite3.wasm.heap8u();
        if (lastDomainId >= 0 && sameBytes(heap, dAt, dLength, lastDomainBytes)) {
          domainId = lastDomainId;
        } else {
          const domain = dLength === 0 || dAt === 0 ? '' : decoder.decode(heap.subarray(dAt, dAt + dLength));
          let id = domainIds.get(domain);
          if (id === undefined) {
            id = domainNames.length;
            domainIds.set(domain, id);
            domainNames.push(domain);
            domainCounts.push(0);
            foldersByDomain.push(new Map());
          }
          domainId = id;
          lastDomainId = id;
          lastDomainBytes = heap.slice(dAt, dAt + dLength);
        }
        domainCounts[domainId]!++;

        if (pAt === 0) {
          groups[n] = NO_GROUP; // the domain's own row is nobody's child
          hay.addRow(heap, 0, 0);
        } else {
          let slash = pLength - 1;
          while (slash >= 0 && heap[pAt + slash] !== 0x2f) slash--;
          const parentLength = slash + 1;
          if (domainId !== lastParentDomain || !sameBytes(heap, pAt, parentLength, lastParentBytes)) {
            const folders = foldersByDomain[domainId]!;
            // '/' is never inside a UTF-8 sequence, so the prefix decodes as the decoded path's prefix would.
            const parent = parentLength === 0 ? '' : decoder.decode(heap.subarray(pAt, pAt + parentLength));
            let g = folders.get(parent);
            if (g === undefined) {
              g = groupCount++;
              folders.set(parent, g);
            }
            lastParentDomain = domainId;
            lastParentBytes = heap.slice(pAt, pAt + parentLength);
            lastGroup = g;
          }
          groups[n] = lastGroup;
          hay.addRow(heap, pAt, pLength);
        }

        // Kind as ManifestDb.toEntry decides it: flags, else the MBFile mode (pyiosbackup leaves flags 0).
        const flags = raw.sqlite3_column_int(p, 3);
        let kind = kindFromFlags(flags);
        const hasBlob = raw.sqlite3_column_type(p, 4) === SQLITE_BLOB;
        let size = 0;
        let mode = 0;
        if (hasBlob && (!kind || kind === 'file')) {
          const length = raw.sqlite3_column_bytes(p, 4);
          const at = raw.sqlite3_column_blob(p, 4);
          if (at !== 0 && fields.read(heap, at, length)) {
            size = fields.size;
            mode = fields.mode;
          } else {
            // Not the plain shape (or damaged): exactly what the full decoder says, 0 if it cannot.
            try {
              const decoded = decodeMbFile(at === 0 ? new Uint8Array(0) : heap.slice(at, at + length));
              size = decoded.size;
              mode = decoded.mode;
            } catch {
              size = 0;
              mode = 0;
            }
          }
        }
        if (!kind) kind = kindFromMode(mode) ?? 'file';
        kinds[n] = kind === 'file' ? 0 : kind === 'directory' ? 1 : 2;
        if (kind === 'file') {
          fileCount++;
          totalSize += size;
        }

        n++;
        if (hay.rows === CHUNK_ROWS) chunks.push(hay.take(n - hay.rows));
        if (n % ROWS_BETWEEN === 0) yield;
      }
      if (rc !== SQLITE_DONE) {
        throw new CorruptBackupError(`Manifest.db could not be read to the end (SQLite error ${rc}: ${sqlite3.capi.sqlite3_errmsg(db.pointer!)}).`);
      }
    } finally {
      stmt.finalize();
    }
    if (hay.rows > 0) chunks.push(hay.take(n - hay.rows));

    // Counting sort of rows by group: one contiguous, rowid-ordered run per folder.
    const groupStarts = new Uint32Array(groupCount + 1);
    for (let i = 0; i < n; i++) {
      const g = groups[i]!;
      if (g !== NO_GROUP) groupStarts[g + 1]!++;
    }
    for (let g = 0; g < groupCount; g++) groupStarts[g + 1]! += groupStarts[g]!;
    const fill = groupStarts.slice(0, groupCount);
    const groupRows = new Uint32Array(groupStarts[groupCount]!);
    for (let i = 0; i < n; i++) {
      const g = groups[i]!;
      if (g !== NO_GROUP) groupRows[fill[g]!++] = i;
    }
    return new ManifestIndex(n, rowids.slice(0, n), kinds.slice(0, n), domainIds, domainNames, domainCounts, foldersByDomain, groupStarts, groupRows, chunks, fileCount, totalSize);
  }

  /** Domains with their row counts, sorted by name. */
  domains(): { domain: string; count: number }[] {
    return this.domainNames
      .map((domain, i) => ({ domain, count: this.domainCounts[i]! }))
      .sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  }

  /** Index rows of the direct children of folder key `parent` ("" or "a/b/") in `domain`. */
  children(domain: string, parent: string): number[] {
    const id = this.domainIds.get(domain);
    if (id === undefined) return [];
    const g = this.foldersByDomain[id]!.get(parent);
    if (g === undefined) return [];
    const out: number[] = [];
    for (let i = this.groupStarts[g]!; i < this.groupStarts[g + 1]!; i++) out.push(this.groupRows[i]!);
    return out;
  }

  rowid(row: number): number {
    return this.rowids[row]!;
  }

  kindOf(row: number): EntryKind {
    return KIND_CODES[this.kinds[row]!]!;
  }

  /**
   * Index rows whose relativePath contains `text`, case-insensitively, in rowid order (the
   * order a LIKE scan returns), at most `limit`.
   */
  search(text: string, limit: number): number[] {
    const needle = text.toLowerCase();
    const out: number[] = [];
    if (limit === 0 || needle.includes('\u0000')) return out;
    for (const chunk of this.chunks) {
      const { text: hay, starts } = chunk;
      const rows = starts.length - 1;
      let from = 0;
      for (;;) {
        const at = hay.indexOf(needle, from);
        if (at < 0) break;
        const row = rowAt(starts, at);
        out.push(chunk.firstRow + row);
        if (out.length === limit) return out;
        if (row + 1 >= rows) break;
        from = starts[row + 1]!; // one hit per row
      }
    }
    return out;
  }
}

function grow<T extends Float64Array | Uint8Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

function sameBytes(heap: Uint8Array, at: number, length: number, bytes: Uint8Array): boolean {
  if (length !== bytes.length) return false;
  for (let i = 0; i < length; i++) if (heap[at + i] !== bytes[i]) return false;
  return true;
}

/** Index of the row whose [start, next start) holds position `at`. */
function rowAt(starts: Uint32Array, at: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * A search chunk built from the paths' UTF-8 bytes as SQLite holds them: ASCII letters are lowercased
 * on the way in, so a chunk of ASCII paths (nearly every backup's) becomes its text in one decode.
 * Joining 65,536 decoded paths and lowercasing the result was a fifth of building the index.
 */
class HaystackBuilder {
  private bytes = new Uint8Array(1 << 22);
  private length = 0;
  private starts: number[] = [];
  private ascii = true;
  private readonly decoder = new TextDecoder();

  get rows(): number {
    return this.starts.length;
  }

  addRow(heap: Uint8Array, at: number, length: number): void {
    if (this.length + length + 1 > this.bytes.byteLength) {
      const grown = new Uint8Array(Math.max(this.bytes.byteLength * 2, this.length + length + 1));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    const out = this.bytes;
    let o = this.length;
    this.starts.push(o);
    let high = 0;
    for (let i = at, end = at + length; i < end; i++) {
      const c = heap[i]!;
      high |= c;
      out[o++] = c - 0x41 < 26 && c >= 0x41 ? c | 0x20 : c;
    }
    if (high & 0x80) this.ascii = false;
    out[o++] = 0; // the NUL between rows
    this.length = o;
  }

  /** The chunk of the rows added since the last take; `firstRow` is the index row of the first. */
  take(firstRow: number): SearchChunk {
    const rows = this.starts.length;
    let chunk: SearchChunk;
    if (this.ascii) {
      // ASCII: a byte is a UTF-16 unit, so the byte starts are the text's, and lowercasing was all done.
      const starts = new Uint32Array(rows + 1);
      for (let i = 0; i < rows; i++) starts[i] = this.starts[i]!;
      starts[rows] = this.length;
      chunk = { text: this.decoder.decode(this.bytes.subarray(0, this.length - 1)), starts, firstRow };
    } else {
      // Else each path as the decoder gives it (ASCII letters lowered already: toLowerCase does the rest).
      const paths: string[] = [];
      for (let i = 0; i < rows; i++) paths.push(this.decoder.decode(this.bytes.subarray(this.starts[i]!, (this.starts[i + 1] ?? this.length) - 1)));
      chunk = searchChunk(paths, firstRow);
    }
    this.starts = [];
    this.length = 0;
    this.ascii = true;
    return chunk;
  }
}

/**
 * Lowercases a chunk in one call. toLowerCase can lengthen a path ("İ" → "i̇"), so the row starts
 * are taken from the lowercased text: if every separator is where the original lengths put it,
 * they are used as they are; otherwise the chunk is lowercased row by row.
 */
function searchChunk(paths: string[], firstRow: number): SearchChunk {
  const starts = new Uint32Array(paths.length + 1);
  let at = 0;
  for (let i = 0; i < paths.length; i++) {
    starts[i] = at;
    at += paths[i]!.length + 1;
  }
  starts[paths.length] = at;
  let text = paths.join('\u0000').toLowerCase();
  let aligned = text.length === at - 1;
  for (let i = 1; aligned && i < paths.length; i++) if (text.charCodeAt(starts[i]! - 1) !== 0) aligned = false;
  if (!aligned) {
    const lowered = paths.map((p) => p.toLowerCase());
    at = 0;
    for (let i = 0; i < lowered.length; i++) {
      starts[i] = at;
      at += lowered[i]!.length + 1;
    }
    starts[paths.length] = at;
    text = lowered.join('\u0000');
  }
  return { text, starts, firstRow };
}
