import * as fsSync from 'node:fs';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { StoreError, type StoreErrno } from '../errors.ts';
import { splitPath } from '../paths.ts';
import { nextTask } from '../../core/next-task.ts';
import type { AppendLog, DirectoryEntry, EntryKind, EntryStat, FileSink, FileSinkNow, StorageBackend } from '../storage-backend.ts';

/** Anything splitPath would reject or normalize: '..'/'.' parts, empty parts, a leading '/', backslashes, NUL. */
const UNSAFE_PATH = /(^|\/)\.{1,2}(\/|$)|\/\/|^\/|\\|\0/;

const WRITE_FLAGS = fsSync.constants.O_WRONLY | fsSync.constants.O_CREAT | fsSync.constants.O_TRUNC | (fsSync.constants.O_NOFOLLOW ?? 0);
const LOG_FLAGS = WRITE_FLAGS | fsSync.constants.O_APPEND;

/** See read(): reads of a file go through a buffer of this size until it fills one. */
const SCRATCH_BYTES = 64 * 1024;

/**
 * The next bytes of an open file from its current position (or from `position`), without blocking
 * the event loop.
 */
function readAt(fd: number, buf: Uint8Array, position: number | null = null): Promise<number> {
  return new Promise((resolve, reject) => fsSync.read(fd, buf, 0, buf.byteLength, position, (e, n) => (e ? reject(e) : resolve(n))));
}

/** Entries removeTree deletes between two yields to the event loop (a cold unlink can wait ≈150 µs). */
const REMOVE_SLICE = 64;

/**
 * `rm -rf` in slices of synchronous calls. Node's fs.rm makes two thread-pool round trips per entry:
 * 2.3–2.8 s of CPU for a 25,600-file version folder on the dev VM, against 0.95 s this way (wall ≈4.5–5 s
 * either way, mostly the disk). A 1.3M-file phone's old version is that size, and it is deleted while
 * the device prepares its next backup, where CPU taken from the device slows it.
 */
async function removeTree(abs: string): Promise<void> {
  let kind: fsSync.Stats;
  try {
    kind = fsSync.lstatSync(abs);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return;
    throw e;
  }
  if (!kind.isDirectory()) return unlinkIfThere(abs);
  let budget = REMOVE_SLICE;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of fsSync.readdirSync(dir, { withFileTypes: true })) {
      const child = nodePath.join(dir, entry.name);
      if (entry.isDirectory()) await walk(child);
      else unlinkIfThere(child);
      if (--budget <= 0) {
        budget = REMOVE_SLICE;
        await nextTask();
      }
    }
    try {
      fsSync.rmdirSync(dir);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
  };
  await walk(abs);
}

function unlinkIfThere(abs: string): void {
  try {
    fsSync.unlinkSync(abs);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
  }
}

const KNOWN: ReadonlySet<string> = new Set(['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ELOOP', 'EIO', 'ENOSPC', 'EACCES']);

function mapError(e: unknown, path: string): StoreError {
  if (e instanceof StoreError) return e;
  const code = (e as { code?: string }).code;
  const errno: StoreErrno = code && KNOWN.has(code) ? (code as StoreErrno) : code === 'EPERM' ? 'EACCES' : code === 'ENOTEMPTY' ? 'EEXIST' : 'EIO';
  return new StoreError(errno, path, (e as Error).message, e);
}

/**
 * StorageBackend over node:fs rooted at one directory. Free space is the volume's real figure (statfs).
 *
 * Metadata calls and writes are synchronous on purpose: a backup is thousands of small files, and an
 * async fs call is a thread-pool round trip that costs several times the syscall itself (measured
 * 3–4× slower for open/write/close/rename). Each call blocks for microseconds; streaming reads of
 * big files stay asynchronous.
 */
export class NodeFsBackend implements StorageBackend {
  readonly root: string;

  /** `root` plus a separator, for appending POSIX store paths; null where the separator is not '/'. */
  private readonly prefix: string | null;

  /** read()'s buffer for small files; never handed out. */
  private readonly scratch = new Uint8Array(SCRATCH_BYTES);

  constructor(root: string) {
    this.root = nodePath.resolve(root);
    this.prefix = nodePath.sep === '/' ? (this.root.endsWith('/') ? this.root : `${this.root}/`) : null;
  }

  /**
   * Store paths arrive normalized ('a/b/c') and this runs several times per received file, so the
   * common case is checked with one regex and appended; anything unusual goes through splitPath,
   * which rejects it with the precise error (or normalizes a trailing '/').
   */
  private abs(path: string): string {
    if (this.prefix === null || path === '' || path.endsWith('/') || UNSAFE_PATH.test(path)) return nodePath.join(this.root, ...splitPath(path));
    return this.prefix + path;
  }

  async stat(path: string): Promise<EntryStat | null> {
    return this.statNow(path);
  }

  statKindNow(path: string): EntryKind | null {
    return this.statNow(path)?.kind ?? null;
  }

  private statNow(path: string): EntryStat | null {
    let st: fsSync.Stats | undefined;
    try {
      st = fsSync.statSync(this.abs(path), { throwIfNoEntry: false });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOTDIR') return null;
      throw mapError(e, path);
    }
    if (!st) return null;
    return { kind: st.isDirectory() ? 'directory' : 'file', size: st.isDirectory() ? 0 : st.size, mtime: st.mtime };
  }

  async entryKind(path: string): Promise<EntryKind | null> {
    let st: fsSync.Stats | undefined;
    try {
      // lstat, as list()'s entries are: a link is not the folder it may point to.
      st = fsSync.lstatSync(this.abs(path), { throwIfNoEntry: false });
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOTDIR') return null;
      throw mapError(e, path);
    }
    if (!st) return null;
    return st.isDirectory() ? 'directory' : 'file';
  }

  async list(path: string): Promise<DirectoryEntry[]> {
    try {
      const entries = fsSync.readdirSync(this.abs(path), { withFileTypes: true });
      return entries.map((e) => ({ name: e.name, kind: e.isDirectory() ? 'directory' : 'file' }));
    } catch (e) {
      throw mapError(e, path);
    }
  }

  /**
   * Creates the folders one by one, refusing any that exists as a link: a link inside the store
   * (planted by someone else, or left by a hostile copy) would carry every file written below it out
   * of the store. The root itself may be reached through links (a home folder on another disk).
   */
  async mkdirp(path: string): Promise<void> {
    fsSync.mkdirSync(this.root, { recursive: true });
    let abs = this.root;
    for (const part of path === '' ? [] : splitPath(path)) {
      abs = nodePath.join(abs, part);
      try {
        const st = fsSync.lstatSync(abs, { throwIfNoEntry: false });
        if (st?.isSymbolicLink()) throw new StoreError('ELOOP', path, `${part} is a symbolic link inside the backup store; Lifeboat writes nothing through it`);
        if (st && !st.isDirectory()) throw new StoreError('ENOTDIR', path);
        if (!st) fsSync.mkdirSync(abs);
      } catch (e) {
        // Another writer made it between the look and the make.
        if ((e as { code?: string }).code === 'EEXIST' && fsSync.lstatSync(abs).isDirectory()) continue;
        throw mapError(e, path);
      }
    }
  }

  async createFile(path: string): Promise<FileSink> {
    const sink = this.createFileNow(path);
    return {
      chunksReusable: true,
      write: async (chunk) => sink.writeNow(chunk),
      close: async () => sink.closeNow(),
      abort: async () => sink.abortNow(),
    };
  }

  createFileNow(path: string): FileSinkNow {
    const abs = this.abs(path);
    let fd: number;
    try {
      // O_NOFOLLOW: a link planted where a file goes is refused (ELOOP) instead of written through.
      fd = fsSync.openSync(abs, WRITE_FLAGS);
    } catch (e) {
      throw mapError(e, path);
    }
    let closed = false;
    return {
      writeNow: (chunk) => {
        try {
          let done = 0;
          while (done < chunk.byteLength) done += fsSync.writeSync(fd, chunk, done, chunk.byteLength - done);
        } catch (e) {
          throw mapError(e, path);
        }
      },
      closeNow: () => {
        if (closed) return;
        closed = true;
        try {
          fsSync.closeSync(fd);
        } catch (e) {
          throw mapError(e, path);
        }
      },
      abortNow: () => {
        if (!closed) {
          closed = true;
          try {
            fsSync.closeSync(fd);
          } catch {
            // Already unusable; removing the file is what matters.
          }
        }
        try {
          fsSync.rmSync(abs, { force: true });
        } catch (e) {
          throw mapError(e, path);
        }
      },
    };
  }

  /** A descriptor of `path` opened read-only, or the StoreError saying why not. */
  private openToRead(path: string): number {
    try {
      return fsSync.openSync(this.abs(path), 'r');
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async *read(path: string, chunkSize: number, scratch?: Uint8Array): AsyncIterable<Uint8Array> {
    const fd = this.openToRead(path);
    try {
      // Most backup files are a few KB and a restore sends a million of them: each is opened, read and
      // closed synchronously (a thread-pool round trip and a FileHandle per file cost more than the
      // syscalls). The first read goes into the caller's `scratch` when it lent one (a view of it is
      // valid until the next chunk is asked for), else into this backend's own buffer copied out at its
      // exact size (shared, it must not be seen by an interleaved read; a fresh zeroed buffer per file,
      // soon garbage, made a 1.3M-file restore spend a quarter of its CPU in the GC). Only a file that
      // fills that first read gets chunk-sized reads, and those are asynchronous: into `scratch` when
      // lent (a 1.19 GB Manifest.db in fresh MiB buffers is a page fault per 4 KiB).
      // A short read almost always means the end; the next read confirms it.
      const lent = scratch && scratch.byteLength >= chunkSize ? scratch.subarray(0, chunkSize) : null;
      const first = Math.min(chunkSize, this.scratch.byteLength);
      for (;;) {
        const n = fsSync.readSync(fd, lent ?? this.scratch, 0, first, null);
        if (n === 0) return;
        yield lent ? lent.subarray(0, n) : this.scratch.slice(0, n);
        if (n === first) break;
      }
      for (;;) {
        const buf = lent ?? new Uint8Array(chunkSize);
        const got = await readAt(fd, buf);
        if (got === 0) return;
        yield got === chunkSize ? buf : buf.subarray(0, got);
      }
    } catch (e) {
      throw mapError(e, path);
    } finally {
      fsSync.closeSync(fd);
    }
  }

  /**
   * Bytes [start, end), clamped to the file, read at their position. Without it a range was streamed
   * from byte 0 (readRangeOf): a restore's check of Manifest.db, a 1 MiB window at a time, read the
   * file from the start again for every window.
   */
  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    const fd = this.openToRead(path);
    try {
      const size = fsSync.fstatSync(fd).size;
      const from = Math.max(0, Math.min(start, size));
      const out = new Uint8Array(Math.max(from, Math.min(end, size)) - from);
      let done = 0;
      while (done < out.byteLength) {
        // Small ranges synchronously, as read() does for small files; big ones off the event loop.
        const rest = out.subarray(done);
        const n = rest.byteLength <= SCRATCH_BYTES ? fsSync.readSync(fd, rest, 0, rest.byteLength, from + done) : await readAt(fd, rest, from + done);
        if (n === 0) break; // the file shrank since fstat
        done += n;
      }
      return done === out.byteLength ? out : out.subarray(0, done);
    } catch (e) {
      throw mapError(e, path);
    } finally {
      fsSync.closeSync(fd);
    }
  }

  async readAll(path: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await fs.readFile(this.abs(path)));
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async append(path: string, bytes: Uint8Array): Promise<void> {
    try {
      fsSync.appendFileSync(this.abs(path), bytes);
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async openLog(path: string): Promise<AppendLog> {
    let fd: number;
    try {
      fd = fsSync.openSync(this.abs(path), LOG_FLAGS);
    } catch (e) {
      throw mapError(e, path);
    }
    let open = true;
    const writeAll = (bytes: Uint8Array): void => {
      if (!open) throw new StoreError('EIO', path, 'this log is closed');
      let done = 0;
      while (done < bytes.byteLength) done += fsSync.writeSync(fd, bytes, done, bytes.byteLength - done);
    };
    return {
      append: (bytes) => {
        try {
          writeAll(bytes);
        } catch (e) {
          throw mapError(e, path);
        }
      },
      reset: (bytes) => {
        try {
          // O_APPEND: after the truncation the next write lands at the start.
          if (open) fsSync.ftruncateSync(fd, 0);
          writeAll(bytes);
        } catch (e) {
          throw mapError(e, path);
        }
      },
      close: () => {
        if (!open) return;
        open = false;
        try {
          fsSync.closeSync(fd);
        } catch {
          // Nothing was pending: every append was written when it was made.
        }
      },
    };
  }

  async rename(from: string, to: string): Promise<void> {
    this.renameNow(from, to);
  }

  renameNow(from: string, to: string): void {
    try {
      fsSync.renameSync(this.abs(from), this.abs(to));
    } catch (e) {
      throw mapError(e, from);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await removeTree(this.abs(path));
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async freeSpace(): Promise<number> {
    await fs.mkdir(this.root, { recursive: true });
    const st = await fs.statfs(this.root);
    return Number(st.bavail) * Number(st.bsize);
  }
}
