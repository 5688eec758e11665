/**
 * Folds an SQLite write-ahead log (`<db>-wal`) into its database image, the way SQLite's own
 * recovery does (https://www.sqlite.org/fileformat2.html#walformat): frames count only up to the
 * last valid commit frame, a frame is valid when its salts match the header's and its cumulative
 * checksum is right, and the first bad frame ends the log. Backups copy a live database and its
 * WAL side by side, so the newest rows often exist only in the WAL; a torn or garbage tail is
 * simply where the log ends, never an error.
 */

const WAL_HEADER_SIZE = 32;
const FRAME_HEADER_SIZE = 24;
const MAGIC_LITTLE_ENDIAN = 0x377f0682;
const MAGIC_BIG_ENDIAN = 0x377f0683;
const WAL_FORMAT_VERSION = 3007000;

export interface WalApplied {
  /** The database image with every committed frame applied (a new array when anything changed). */
  bytes: Uint8Array;
  /** Committed frames applied (0: the WAL held nothing usable and `bytes` is the input). */
  frames: number;
}

/** SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from s0/s1. */
function checksum(data: Uint8Array, bigEndian: boolean, s: [number, number]): [number, number] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let s0 = s[0];
  let s1 = s[1];
  const littleEndian = !bigEndian;
  for (let i = 0; i + 8 <= data.length; i += 8) {
    s0 = (s0 + view.getUint32(i, littleEndian) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, littleEndian) + s0) >>> 0;
  }
  return [s0, s1];
}

function pageSizeOf(value: number): number {
  return value === 1 ? 65536 : value;
}

function isPowerOfTwoPageSize(n: number): boolean {
  return n >= 512 && n <= 65536 && (n & (n - 1)) === 0;
}

/**
 * The database image as SQLite would see it with `wal` beside it. A WAL that is empty, not a WAL,
 * for another page size, or without one valid commit leaves the database unchanged.
 */
export function applyWal(database: Uint8Array, wal: Uint8Array): WalApplied {
  const unchanged = { bytes: database, frames: 0 };
  if (wal.length < WAL_HEADER_SIZE) return unchanged;
  const header = new DataView(wal.buffer, wal.byteOffset, WAL_HEADER_SIZE);
  const magic = header.getUint32(0);
  if (magic !== MAGIC_LITTLE_ENDIAN && magic !== MAGIC_BIG_ENDIAN) return unchanged;
  const bigEndian = magic === MAGIC_BIG_ENDIAN;
  if (header.getUint32(4) !== WAL_FORMAT_VERSION) return unchanged;
  const pageSize = pageSizeOf(header.getUint32(8));
  if (!isPowerOfTwoPageSize(pageSize)) return unchanged;
  // A database file that exists must agree on the page size; an empty one takes the WAL's.
  if (database.length >= 100) {
    const dbPageSize = pageSizeOf((database[16]! << 8) | database[17]!);
    if (dbPageSize !== pageSize) return unchanged;
  }
  const salt1 = header.getUint32(16);
  const salt2 = header.getUint32(20);
  let sums = checksum(wal.subarray(0, 24), bigEndian, [0, 0]);
  if (sums[0] !== header.getUint32(24) || sums[1] !== header.getUint32(28)) return unchanged;

  // Pages of the transaction being read, and of everything committed so far (later frames win).
  const pending = new Map<number, number>();
  const committed = new Map<number, number>();
  let committedPages = 0;
  let committedFrames = 0;
  let pendingFrames = 0;
  const frameSize = FRAME_HEADER_SIZE + pageSize;
  const databasePages = Math.floor(database.length / pageSize);
  /** Pages past the end of the database file that the log holds. */
  const added = new Set<number>();
  for (let at = WAL_HEADER_SIZE; at + frameSize <= wal.length; at += frameSize) {
    const frame = new DataView(wal.buffer, wal.byteOffset + at, FRAME_HEADER_SIZE);
    const pageNumber = frame.getUint32(0);
    const sizeAfterCommit = frame.getUint32(4);
    if (pageNumber === 0 || frame.getUint32(8) !== salt1 || frame.getUint32(12) !== salt2) break;
    sums = checksum(wal.subarray(at, at + 8), bigEndian, sums);
    sums = checksum(wal.subarray(at + FRAME_HEADER_SIZE, at + frameSize), bigEndian, sums);
    if (sums[0] !== frame.getUint32(16) || sums[1] !== frame.getUint32(20)) break;
    pending.set(pageNumber, at + FRAME_HEADER_SIZE);
    pendingFrames++;
    if (pageNumber > databasePages) added.add(pageNumber);
    if (sizeAfterCommit !== 0) {
      // SQLite logs every page it adds, so a commit cannot grow the database by more pages than the
      // log holds; a bigger size is a forged frame (and would have us allocate gigabytes): the log ends.
      if (sizeAfterCommit > databasePages + added.size) break;
      for (const [page, offset] of pending) committed.set(page, offset);
      pending.clear();
      committedPages = sizeAfterCommit;
      committedFrames += pendingFrames;
      pendingFrames = 0;
    }
  }
  if (committedFrames === 0) return unchanged;

  const out = new Uint8Array(committedPages * pageSize);
  out.set(database.subarray(0, Math.min(database.length, out.length)));
  for (const [page, offset] of committed) {
    if (page > committedPages) continue; // a page beyond a later truncation
    out.set(wal.subarray(offset, offset + pageSize), (page - 1) * pageSize);
  }
  return { bytes: out, frames: committedFrames };
}
