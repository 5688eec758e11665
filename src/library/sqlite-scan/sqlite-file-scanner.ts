import { CorruptBackupError, LifeboatError } from '../../core/errors.ts';
import { decodeRecord, readVarint, varintEnd, type SqlValue } from './record.ts';
import { WindowCache, type RangeReader } from './range-reader.ts';
import { tableShapeOf, type TableShape } from './schema.ts';

/** A database the scanner does not read in place (another encoding of the format, a WITHOUT ROWID table); an in-memory open still can. */
export class UnsupportedDatabaseError extends LifeboatError {
  constructor(message: string) {
    super('unsupported', message);
  }
}

export interface SchemaEntry {
  type: string;
  name: string;
  rootPage: number;
  sql: string;
}

export interface TableRow {
  rowid: number;
  values: SqlValue[];
}

/** A b-tree deeper than this is a loop or damage (SQLite's own limit is 20). */
const MAX_DEPTH = 40;
/** No row of the tables we read comes near this; a bigger stated size is damage. */
const MAX_PAYLOAD = 64 * 1024 * 1024;
const HEADER = 'SQLite format 3\0';

const TABLE_LEAF = 0x0d;
const TABLE_INTERIOR = 0x05;

/**
 * Reads rows of an SQLite database where it lies, a window at a time, instead of loading the whole
 * file: a million-row Manifest.db is 1.5 GB, more than a browser worker can hold twice (once read,
 * once in SQLite's heap). Read-only and table scans only: the header, sqlite_master, and the
 * b-tree of one rowid table walked in row-id order, overflow chains followed. Every offset, page
 * number, depth and length from the file is checked; a page reached twice (a loop) is damage.
 */
export class SqliteFileScanner {
  private readonly text: TextDecoder;
  /** One bit per page: reached already in the current scan. */
  private visited: Uint8Array;

  private constructor(
    private readonly pages: WindowCache,
    readonly name: string,
    readonly pageSize: number,
    /** Page size minus the reserved bytes at each page's end. */
    private readonly usable: number,
    readonly pageCount: number,
    encoding: string,
  ) {
    this.text = new TextDecoder(encoding);
    this.visited = new Uint8Array((pageCount >> 3) + 1);
  }

  static async open(reader: RangeReader, name: string): Promise<SqliteFileScanner> {
    const pages = new WindowCache(reader);
    if (reader.size < 100) throw new CorruptBackupError(`“${name}” is not an SQLite database (or it is still encrypted).`);
    const { bytes } = await pages.window(0);
    if (bytes.length < 100 || new TextDecoder().decode(bytes.subarray(0, 16)) !== HEADER) {
      throw new CorruptBackupError(`“${name}” is not an SQLite database (or it is still encrypted).`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, 100);
    const raw = view.getUint16(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) throw new CorruptBackupError(`“${name}” is damaged: its page size (${raw}) is impossible.`);
    const usable = pageSize - bytes[20]!;
    if (usable < 480) throw new CorruptBackupError(`“${name}” is damaged: it reserves too much of each page.`);
    if (bytes[19]! > 2) throw new UnsupportedDatabaseError(`“${name}” uses a newer SQLite file format (read version ${bytes[19]}).`);
    const enc = view.getUint32(56);
    const encoding = enc === 2 ? 'utf-16le' : enc === 3 ? 'utf-16be' : 'utf-8';
    const pageCount = Math.floor(reader.size / pageSize);
    if (pageCount < 1) throw new CorruptBackupError(`“${name}” is damaged: it is shorter than one page.`);
    return new SqliteFileScanner(pages, name, pageSize, usable, pageCount, encoding);
  }

  private damaged(what: string): CorruptBackupError {
    return new CorruptBackupError(`“${this.name}” is damaged: ${what}.`);
  }

  /** Page `n` (1-based), whole. */
  private async page(n: number): Promise<Uint8Array> {
    if (!Number.isInteger(n) || n < 1 || n > this.pageCount) throw this.damaged(`it points to page ${n} of ${this.pageCount}`);
    const offset = (n - 1) * this.pageSize;
    const { start, bytes } = await this.pages.window(offset);
    const at = offset - start;
    if (at + this.pageSize > bytes.length) throw this.damaged(`page ${n} is cut short`);
    return bytes.subarray(at, at + this.pageSize);
  }

  private claim(n: number): void {
    const bit = 1 << (n & 7);
    if (this.visited[n >> 3]! & bit) throw this.damaged(`page ${n} is reached twice (a loop)`);
    this.visited[n >> 3]! |= bit;
  }

  /** The rows of sqlite_master (tables, indexes, views), as declared. */
  async schema(): Promise<SchemaEntry[]> {
    const out: SchemaEntry[] = [];
    for await (const { values } of this.rows(1, 5)) {
      const [type, name, , rootPage, sql] = values;
      out.push({
        type: typeof type === 'string' ? type : '',
        name: typeof name === 'string' ? name : '',
        rootPage: typeof rootPage === 'number' ? rootPage : 0,
        sql: typeof sql === 'string' ? sql : '',
      });
    }
    return out;
  }

  /** The table `name`'s root page and shape; undefined when there is no such table. */
  async table(name: string): Promise<{ rootPage: number; shape: TableShape } | undefined> {
    const entry = (await this.schema()).find((e) => e.type === 'table' && e.name.toLowerCase() === name.toLowerCase());
    if (!entry) return undefined;
    const shape = tableShapeOf(entry.sql);
    if (!shape) throw new UnsupportedDatabaseError(`The ${name} table of “${this.name}” is declared in a way Lifeboat cannot read in place.`);
    if (shape.withoutRowid) throw new UnsupportedDatabaseError(`The ${name} table of “${this.name}” has no row ids, which Lifeboat cannot read in place.`);
    return { rootPage: entry.rootPage, shape };
  }

  /**
   * Every row of the rowid table rooted at `rootPage`, in row-id order, each record decoded to
   * `columns` values. One scan at a time per scanner.
   */
  async *rows(rootPage: number, columns: number): AsyncGenerator<TableRow> {
    for await (const batch of this.rowBatches(rootPage, columns)) yield* batch;
  }

  /**
   * rows(), a leaf page's rows at a time: a scan of 1.3M rows pays the async generator's turns once
   * per page instead of once per row. With `blobViews`, a row's blobs are views of its page (or of its
   * payload put back together) instead of copies: for a caller done with each batch before the next,
   * over a reader whose memory never changes (1.3M blob copies were a large share of such a scan's
   * garbage).
   */
  async *rowBatches(rootPage: number, columns: number, blobViews = false): AsyncGenerator<TableRow[]> {
    this.visited.fill(0);
    // Interior pages on the way down, with the next cell to descend into.
    const stack: { page: Uint8Array; header: number; cells: number; next: number }[] = [];
    let descend: number | undefined = rootPage;
    while (descend !== undefined || stack.length > 0) {
      if (descend !== undefined) {
        if (stack.length >= MAX_DEPTH) throw this.damaged('its tree is deeper than any real database');
        this.claim(descend);
        const page = await this.page(descend);
        const header = descend === 1 ? 100 : 0;
        const type = page[header];
        const cells = (page[header + 3]! << 8) | page[header + 4]!;
        if (type === TABLE_LEAF) {
          if (header + 8 + cells * 2 > this.usable) throw this.damaged(`page ${descend} lists more rows than fit in it`);
          const batch: TableRow[] = [];
          for (let i = 0; i < cells; i++) {
            const cell = this.leafCell(page, descend, header, i);
            // Only a row spilling to overflow pages waits for a read.
            const payload = cell.local === cell.size ? page.subarray(cell.start, cell.start + cell.size) : await this.spilledPayload(page, cell);
            batch.push({ rowid: cell.rowid, values: decodeRecord(payload, this.text, columns, `“${this.name}”`, blobViews) });
          }
          yield batch;
          descend = undefined;
        } else if (type === TABLE_INTERIOR) {
          if (header + 12 + cells * 2 > this.usable) throw this.damaged(`page ${descend} lists more children than fit in it`);
          stack.push({ page, header, cells, next: 0 });
          descend = undefined;
        } else {
          throw this.damaged(`page ${descend} is not a table page (type ${type})`);
        }
        continue;
      }
      const top = stack[stack.length - 1]!;
      if (top.next < top.cells) {
        const at = this.cellOffset(top.page, top.header + 12, top.next, 4);
        descend = new DataView(top.page.buffer, top.page.byteOffset + at, 4).getUint32(0);
      } else if (top.next === top.cells) {
        descend = new DataView(top.page.buffer, top.page.byteOffset + top.header + 8, 4).getUint32(0);
      } else {
        stack.pop();
        continue;
      }
      top.next++;
    }
  }

  /** Where cell `i` starts, checked to leave at least `min` bytes before the usable end. */
  private cellOffset(page: Uint8Array, pointers: number, i: number, min: number): number {
    const at = (page[pointers + i * 2]! << 8) | page[pointers + i * 2 + 1]!;
    if (at < pointers || at + min > this.usable) throw this.damaged(`a cell points outside its page (${at})`);
    return at;
  }

  /** Cell `i` of a leaf page: its row id, where its payload starts, its size and how much of it is on the page. */
  private leafCell(page: Uint8Array, pageNumber: number, header: number, i: number): { rowid: number; start: number; size: number; local: number } {
    const at = this.cellOffset(page, header + 8, i, 2);
    const size = readVarint(page, at, this.usable, this.name);
    const rowid = readVarint(page, varintEnd, this.usable, this.name);
    const start = varintEnd;
    if (size > MAX_PAYLOAD) throw this.damaged(`a row on page ${pageNumber} claims ${size} bytes`);
    const local = this.localSize(size);
    if (start + local + (local < size ? 4 : 0) > this.usable) throw this.damaged(`a row on page ${pageNumber} runs past the page`);
    return { rowid, start, size, local };
  }

  /** A row's payload whose tail spills to overflow pages, put back together. */
  private async spilledPayload(page: Uint8Array, cell: { start: number; size: number; local: number }): Promise<Uint8Array> {
    const { start, size, local } = cell;
    const payload = new Uint8Array(size);
    payload.set(page.subarray(start, start + local));
    let filled = local;
    let next = new DataView(page.buffer, page.byteOffset + start + local, 4).getUint32(0);
    while (filled < size) {
      this.claim(next);
      const overflow = await this.page(next);
      const take = Math.min(size - filled, this.usable - 4);
      payload.set(overflow.subarray(4, 4 + take), filled);
      filled += take;
      next = new DataView(overflow.buffer, overflow.byteOffset, 4).getUint32(0);
    }
    return payload;
  }

  /** Bytes of a `size`-byte table row kept on its leaf page (the rest spills to overflow pages). */
  private localSize(size: number): number {
    const u = this.usable;
    const maxLocal = u - 35;
    if (size <= maxLocal) return size;
    const minLocal = Math.floor(((u - 12) * 32) / 255) - 23;
    const k = minLocal + ((size - minLocal) % (u - 4));
    return k <= maxLocal ? k : minLocal;
  }
}
