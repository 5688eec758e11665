import type { Database, Sqlite3Result, Sqlite3Static } from '@sqlite.org/sqlite-wasm';
import { readFully, type FileRead } from '../core/file-read.ts';

/**
 * A read-only SQLite VFS over files read synchronously where they lie (a Node file descriptor, an
 * OPFS sync access handle opened read-only), so a database is queried without copying it into
 * SQLite's memory first. A 1.3M-file backup's Manifest.db is 1.19 GB: copying it in took 6–9 s in
 * Chromium (most of it page faults on fresh memory) and held it all in the Library's worker.
 *
 * The file is declared immutable (no locks, no journal, no WAL file is looked for), and a header
 * saying WAL is read as rollback mode, as openDatabaseChunks does for a copy: backups carry the WAL
 * flag without a -wal file the reader could use.
 */

const VFS_NAME = 'lifeboat-in-place';

/**
 * A scan (a run of STREAK_READS reads, each a little past the one before) reads ahead this much at a
 * time; anything else reads just the page asked for, so a lookup by key reads a few pages, not MiBs.
 */
const WINDOW_BYTES = 1 << 20;
const STREAK_READS = 8;

/** Offsets 18 and 19 of the header: the file format's write and read versions (2 means WAL). */
const WAL_VERSION_AT = 18;

class OpenFile {
  /** Bytes [windowAt, windowAt + windowLength) of the file, read ahead for a forward scan. */
  private window: Uint8Array | null = null;
  private windowAt = 0;
  private windowLength = 0;
  private lastEnd = -1;
  /** Reads in a row that each began at most WINDOW_BYTES past the end of the one before. */
  private streak = 0;

  constructor(readonly file: FileRead) {}

  /**
   * Fills `heap[to, to + n)` from byte `at`; how many bytes the file had there. A page served from the
   * window costs one view object, one read through the file two: a scan asks for hundreds of thousands.
   */
  read(heap: Uint8Array, to: number, n: number, at: number): number {
    let got: number;
    this.streak = this.lastEnd >= 0 && at >= this.lastEnd && at - this.lastEnd < WINDOW_BYTES ? this.streak + 1 : 0;
    if (this.window && at >= this.windowAt && at + n <= this.windowAt + this.windowLength) {
      heap.set(this.window.subarray(at - this.windowAt, at - this.windowAt + n), to);
      got = n;
    } else if (n < WINDOW_BYTES && this.streak >= STREAK_READS) {
      // A scan in file order (a table's pages, interleaved with its indexes'): read ahead once.
      this.window ??= new Uint8Array(WINDOW_BYTES);
      this.windowAt = at;
      this.windowLength = readFully(this.file, this.window, at);
      got = Math.min(n, this.windowLength);
      heap.set(this.window.subarray(0, got), to);
    } else {
      got = readFully(this.file, heap.subarray(to, to + n), at);
    }
    this.lastEnd = at + n;
    if (at <= WAL_VERSION_AT + 1 && at + got > WAL_VERSION_AT) {
      for (let k = WAL_VERSION_AT; k <= WAL_VERSION_AT + 1; k++) if (k >= at && k < at + got && heap[to + k - at] === 2) heap[to + k - at] = 1;
    }
    return got;
  }
}

class InPlaceVfs {
  /** Files waiting for SQLite to open them, by the name given to it. */
  private readonly waiting = new Map<string, FileRead>();
  /** Open files by their sqlite3_file pointer. */
  private readonly open = new Map<number, OpenFile>();
  private counter = 0;

  constructor(private readonly sqlite3: Sqlite3Static) {
    const { capi, wasm } = sqlite3;
    const io = new capi.sqlite3_io_methods();
    io.iVersion = 1;
    const file = (pFile: number): OpenFile | undefined => this.open.get(Number(pFile));
    sqlite3.vfs.installVfs({
      io: {
        struct: io,
        methods: {
          xClose: (pFile) => {
            const f = file(pFile);
            this.open.delete(Number(pFile));
            try {
              f?.file.close();
            } catch {
              // Closing a read-only handle cannot lose anything.
            }
            return capi.SQLITE_OK;
          },
          xRead: (pFile, pDest, n, offset) => {
            const f = file(pFile);
            if (!f) return capi.SQLITE_IOERR_READ;
            const to = Number(pDest);
            try {
              const heap = wasm.heap8u();
              const got = f.read(heap, to, n, Number(offset));
              if (got < n) {
                heap.fill(0, to + got, to + n);
                return capi.SQLITE_IOERR_SHORT_READ;
              }
              return capi.SQLITE_OK;
            } catch {
              return capi.SQLITE_IOERR_READ;
            }
          },
          xWrite: () => capi.SQLITE_READONLY,
          xTruncate: () => capi.SQLITE_READONLY,
          xSync: () => capi.SQLITE_OK,
          xFileSize: (pFile, pSize) => {
            wasm.poke64(pSize, BigInt(file(pFile)?.file.size ?? 0));
            return capi.SQLITE_OK;
          },
          xLock: () => capi.SQLITE_OK,
          xUnlock: () => capi.SQLITE_OK,
          xCheckReservedLock: (_pFile, pOut) => {
            wasm.poke32(pOut, 0);
            return capi.SQLITE_OK;
          },
          xFileControl: () => capi.SQLITE_NOTFOUND,
          // Not result codes, though typed as such: a sector size and a set of capability flags.
          xSectorSize: () => 4096 as number as Sqlite3Result,
          xDeviceCharacteristics: () => capi.SQLITE_IOCAP_IMMUTABLE as number as Sqlite3Result,
        },
      },
    });
    const vfs = new capi.sqlite3_vfs();
    vfs.$iVersion = 2;
    vfs.$szOsFile = (capi.sqlite3_file as unknown as { structInfo: { sizeof: number } }).structInfo.sizeof;
    vfs.$mxPathname = 512;
    const fallback = capi.sqlite3_vfs_find(null);
    if (fallback) {
      const base = new capi.sqlite3_vfs(fallback);
      (vfs as unknown as { $xRandomness: number }).$xRandomness = (base as unknown as { $xRandomness: number }).$xRandomness;
      base.dispose();
    }
    sqlite3.vfs.installVfs({
      vfs: {
        struct: vfs,
        name: VFS_NAME,
        methods: {
          xOpen: (_pVfs, zName, pFile, _flags, pOutFlags) => {
            const name = (zName ? wasm.cstrToJs(zName) : null) ?? '';
            const waiting = this.waiting.get(name);
            // Only the database itself: a temporary or journal file would need writing (openDatabase keeps those in memory).
            if (!waiting) return capi.SQLITE_CANTOPEN;
            this.waiting.delete(name);
            this.open.set(Number(pFile), new OpenFile(waiting));
            const f = new capi.sqlite3_file(pFile);
            f.$pMethods = io.pointer;
            f.dispose();
            if (pOutFlags) wasm.poke32(pOutFlags, capi.SQLITE_OPEN_READONLY);
            return capi.SQLITE_OK;
          },
          xDelete: () => capi.SQLITE_IOERR_DELETE,
          xAccess: (_pVfs, _zName, _flags, pOut) => {
            wasm.poke32(pOut, 0);
            return capi.SQLITE_OK;
          },
          xFullPathname: (_pVfs, zName, nOut, pOut) => ((wasm.cstrncpy(pOut, zName, nOut) as number) < nOut ? capi.SQLITE_OK : capi.SQLITE_CANTOPEN),
          xCurrentTime: (_pVfs, pOut) => {
            wasm.poke(pOut, 2440587.5 + Date.now() / 864e5, 'double');
            return capi.SQLITE_OK;
          },
          xCurrentTimeInt64: (_pVfs, pOut) => {
            wasm.poke(pOut, 210866760000000 + Date.now(), 'i64');
            return capi.SQLITE_OK;
          },
          xGetLastError: () => capi.SQLITE_OK,
          xSleep: () => capi.SQLITE_OK,
        },
      },
    });
  }

  /** Opens `file` read-only; SQLite owns it from here and closes it with the database. */
  openDatabase(file: FileRead): Database {
    const name = `/in-place-${++this.counter}`;
    this.waiting.set(name, file);
    try {
      const db = new this.sqlite3.oo1.DB({ filename: name, flags: 'r', vfs: VFS_NAME });
      try {
        // Sorting and temporary tables in memory: this VFS opens nothing but the database.
        db.exec('PRAGMA temp_store = MEMORY');
      } catch (e) {
        db.close();
        throw e;
      }
      return db;
    } finally {
      // Still waiting means SQLite never opened it, and the caller keeps it.
      this.waiting.delete(name);
    }
  }
}

const installed = new WeakMap<Sqlite3Static, InPlaceVfs>();

function inPlaceVfs(sqlite3: Sqlite3Static): InPlaceVfs {
  let vfs = installed.get(sqlite3);
  if (!vfs) {
    vfs = new InPlaceVfs(sqlite3);
    installed.set(sqlite3, vfs);
  }
  return vfs;
}

const readFailures = new WeakMap<Database, () => Error | undefined>();

/**
 * Why reading `db`'s file failed, if it did: SQLite reports only "disk I/O error", where the file may
 * have changed on disk under it (a picked folder's File then refuses to read) or gone away.
 */
export function inPlaceReadFailure(db: Database): Error | undefined {
  return readFailures.get(db)?.();
}

/**
 * `file` as a read-only database, read in place. The database closes the file when it closes; if
 * opening fails, the file is closed here (once: SQLite may have closed it already).
 */
export function openDatabaseInPlace(sqlite3: Sqlite3Static, file: FileRead): Database {
  let closed = false;
  let failure: Error | undefined;
  const once: FileRead = {
    size: file.size,
    read: (into, at) => {
      try {
        return file.read(into, at);
      } catch (error) {
        failure ??= error instanceof Error ? error : new Error(String(error));
        throw error;
      }
    },
    close: () => {
      if (closed) return;
      closed = true;
      file.close();
    },
  };
  try {
    const db = inPlaceVfs(sqlite3).openDatabase(once);
    readFailures.set(db, () => failure);
    return db;
  } catch (e) {
    once.close();
    throw e;
  }
}
