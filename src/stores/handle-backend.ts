import { StoreError, type StoreErrno } from './errors.ts';
import { forEachConcurrently } from './concurrency.ts';
import { splitPath } from './paths.ts';
import type { DirectoryEntry, EntryKind, EntryStat, FileSink, StorageBackend } from './storage-backend.ts';

/*
 * The subset of the File System Access API the stores use, written out so the same code runs on a
 * real FileSystemDirectoryHandle (OPFS or a picked folder) and on an in-memory fake in Node tests.
 */
export interface DirHandleLike {
  readonly kind: 'directory';
  readonly name: string;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirHandleLike>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  values(): AsyncIterable<DirHandleLike | FileHandleLike>;
}

export interface FileHandleLike {
  readonly kind: 'file';
  readonly name: string;
  getFile(): Promise<Blob & { readonly lastModified: number }>;
  createWritable(options?: { keepExistingData?: boolean }): Promise<WritableLike>;
  /** OPFS in a dedicated worker only. */
  createSyncAccessHandle?(options?: { mode?: 'readwrite' | 'read-only' | 'readwrite-unsafe' }): Promise<SyncAccessHandleLike>;
  /** Chromium: rename/move within the same file system without copying. */
  move?(parent: DirHandleLike, name: string): Promise<void>;
}

export interface WritableLike {
  write(data: Uint8Array | { type: 'write'; position: number; data: Uint8Array }): Promise<void>;
  seek(position: number): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}

export interface SyncAccessHandleLike {
  read(buffer: Uint8Array, options?: { at?: number }): number;
  write(buffer: Uint8Array, options?: { at?: number }): number;
  getSize(): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

export function mapError(e: unknown, path: string): StoreError {
  if (e instanceof StoreError) return e;
  const name = (e as { name?: string }).name;
  const errno: StoreErrno =
    name === 'NotFoundError'
      ? 'ENOENT'
      : name === 'TypeMismatchError'
        ? 'ENOTDIR'
        : name === 'InvalidModificationError'
          ? 'EEXIST'
          : name === 'QuotaExceededError'
            ? 'ENOSPC'
            : name === 'NotAllowedError' || name === 'SecurityError'
              ? 'EACCES'
              : 'EIO';
  return new StoreError(errno, path, (e as Error).message, e);
}

export interface HandleBackendOptions {
  /** Reported to the device as free space (see README for each store's policy). */
  freeSpace: () => Promise<number>;
  /** Try createSyncAccessHandle() first (OPFS in a dedicated worker); falls back to createWritable(). */
  preferSyncAccess?: boolean;
}

/** Moves in flight at once when a folder is moved file by file. */
const RENAME_CONCURRENCY = 16;

/** StorageBackend over a directory handle. */
export class HandleBackend implements StorageBackend {
  private syncAccessWorks: boolean;
  /**
   * Directory handles by path. Every lookup used to walk from the root, one promise per path
   * segment (six for a staged payload file); entries are dropped when we remove or move the folder.
   */
  private readonly dirs = new Map<string, DirHandleLike>();
  /**
   * Handles of files this backend created or moved, by path: a staged upload is created once and
   * moved twice, and each lookup is a round trip to the browser's storage process.
   */
  private readonly files = new Map<string, FileHandleLike>();

  constructor(
    private readonly root: DirHandleLike,
    private readonly options: HandleBackendOptions,
  ) {
    this.syncAccessWorks = options.preferSyncAccess ?? false;
  }

  private async dir(parts: string[], create = false): Promise<DirHandleLike> {
    let d = this.root;
    let i = parts.length;
    for (; i > 0; i--) {
      const known = this.dirs.get(parts.slice(0, i).join('/'));
      if (known) {
        d = known;
        break;
      }
    }
    for (; i < parts.length; i++) {
      d = await d.getDirectoryHandle(parts[i]!, { create });
      this.dirs.set(parts.slice(0, i + 1).join('/'), d);
    }
    return d;
  }

  /** Forgets cached handles at or below `path` (it was removed or moved). */
  private forgetDirs(path: string): void {
    const key = splitPath(path).join('/');
    this.files.delete(key);
    if (key === '') {
      this.dirs.clear();
      this.files.clear();
      return;
    }
    const prefix = `${key}/`;
    for (const k of this.dirs.keys()) if (k === key || k.startsWith(prefix)) this.dirs.delete(k);
    for (const k of this.files.keys()) if (k.startsWith(prefix)) this.files.delete(k);
  }

  private rememberFile(path: string, handle: FileHandleLike): void {
    // A bound, not an LRU: past it the cache only starts over (lookups still work, just slower).
    if (this.files.size >= 100_000) this.files.clear();
    this.files.set(splitPath(path).join('/'), handle);
  }

  private async parentAndName(path: string, create = false): Promise<[DirHandleLike, string]> {
    const parts = splitPath(path);
    if (parts.length === 0) throw new StoreError('EINVAL', path, 'the root has no parent');
    return [await this.dir(parts.slice(0, -1), create), parts[parts.length - 1]!];
  }

  /** The folder holding `path` and the name in it; null when there is no such folder. */
  private async existingParent(path: string): Promise<[DirHandleLike, string] | null> {
    const parts = splitPath(path);
    try {
      return [await this.dir(parts.slice(0, -1)), parts[parts.length - 1]!];
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'NotFoundError' || name === 'TypeMismatchError') return null;
      throw mapError(e, path);
    }
  }

  private async entry(path: string): Promise<DirHandleLike | FileHandleLike | null> {
    if (splitPath(path).length === 0) return this.root;
    const found = await this.existingParent(path);
    if (!found) return null;
    const [parent, last] = found;
    for (const getter of ['getFileHandle', 'getDirectoryHandle'] as const) {
      try {
        return await parent[getter](last);
      } catch (e) {
        const name = (e as { name?: string }).name;
        if (name !== 'NotFoundError' && name !== 'TypeMismatchError') throw mapError(e, path);
      }
    }
    return null;
  }

  async stat(path: string): Promise<EntryStat | null> {
    const h = await this.entry(path);
    if (!h) return null;
    if (h.kind === 'directory') return { kind: 'directory', size: 0, mtime: new Date(0) };
    const file = await h.getFile();
    return { kind: 'file', size: file.size, mtime: new Date(file.lastModified) };
  }

  /**
   * One round trip for a name: getFileHandle answers NotFoundError for nothing there and
   * TypeMismatchError for a folder, so the folder itself (thousands of entries) is never listed.
   */
  async entryKind(path: string): Promise<EntryKind | null> {
    if (splitPath(path).length === 0) return 'directory';
    const found = await this.existingParent(path);
    if (!found) return null;
    try {
      await found[0].getFileHandle(found[1]);
      return 'file';
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'NotFoundError') return null;
      if (name === 'TypeMismatchError') return 'directory';
      throw mapError(e, path);
    }
  }

  async list(path: string): Promise<DirectoryEntry[]> {
    const h = await this.entry(path);
    if (!h) throw new StoreError('ENOENT', path);
    if (h.kind !== 'directory') throw new StoreError('ENOTDIR', path);
    const out: DirectoryEntry[] = [];
    for await (const child of h.values()) out.push({ name: child.name, kind: child.kind });
    return out;
  }

  async mkdirp(path: string): Promise<void> {
    try {
      await this.dir(splitPath(path), true);
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async createFile(path: string): Promise<FileSink> {
    let handle: FileHandleLike;
    let parent: DirHandleLike;
    let name: string;
    try {
      [parent, name] = await this.parentAndName(path);
      handle = await parent.getFileHandle(name, { create: true });
    } catch (e) {
      throw mapError(e, path);
    }
    this.rememberFile(path, handle);
    const drop = async (): Promise<void> => {
      this.files.delete(splitPath(path).join('/'));
      await parent.removeEntry(name).catch(() => undefined);
    };
    if (this.syncAccessWorks && handle.createSyncAccessHandle) {
      try {
        const access = await handle.createSyncAccessHandle();
        access.truncate(0);
        let at = 0;
        let closed = false;
        return {
          // Written out before write() returns.
          chunksReusable: true,
          write: async (chunk) => {
            try {
              let done = 0;
              while (done < chunk.byteLength) done += access.write(chunk.subarray(done), { at: at + done });
              at += chunk.byteLength;
            } catch (e) {
              throw mapError(e, path);
            }
          },
          close: async () => {
            if (closed) return;
            closed = true;
            // No flush(): it is an fsync per file (the Node backend does not fsync either). The store's
            // guarantees are about unplugs, which the staging and journal handle, not power loss.
            access.close();
          },
          abort: async () => {
            if (!closed) {
              closed = true;
              access.close();
            }
            await drop();
          },
        };
      } catch {
        // Not in a dedicated worker, or not OPFS: the writable stream works everywhere.
        this.syncAccessWorks = false;
      }
    }
    let writable: WritableLike;
    try {
      writable = await handle.createWritable({ keepExistingData: false });
    } catch (e) {
      throw mapError(e, path);
    }
    let closed = false;
    return {
      // The stream has taken the bytes once a write settles (the upload pipeline reuses a piece only then).
      chunksReusable: true,
      write: async (chunk) => {
        try {
          await writable.write(chunk);
        } catch (e) {
          throw mapError(e, path);
        }
      },
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await writable.close();
        } catch (e) {
          throw mapError(e, path);
        }
      },
      abort: async () => {
        if (!closed) {
          closed = true;
          await writable.abort().catch(() => undefined);
        }
        await drop();
      },
    };
  }

  async *read(path: string, chunkSize: number): AsyncIterable<Uint8Array> {
    const file = await this.fileBlob(path);
    for (let at = 0; at < file.size; at += chunkSize) {
      yield new Uint8Array(await file.slice(at, Math.min(file.size, at + chunkSize)).arrayBuffer());
    }
  }

  /**
   * Bytes [start, end), clamped to the file: one slice of its File. Without it a range was streamed
   * from byte 0 (readRangeOf), so scanning Manifest.db a window at a time read the file again per window.
   */
  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    const file = await this.fileBlob(path);
    const from = Math.max(0, Math.min(start, file.size));
    return new Uint8Array(await file.slice(from, Math.max(from, Math.min(end, file.size))).arrayBuffer());
  }

  /** The file at `path` (ENOENT when nothing is there, EISDIR for a folder); never null here. */
  async fileBlob(path: string): Promise<Blob> {
    const h = await this.entry(path);
    if (!h) throw new StoreError('ENOENT', path);
    if (h.kind !== 'file') throw new StoreError('EISDIR', path);
    return h.getFile();
  }

  async readAll(path: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.fileBlob(path)).arrayBuffer());
  }

  async append(path: string, bytes: Uint8Array): Promise<void> {
    try {
      const [parent, name] = await this.parentAndName(path);
      const handle = await parent.getFileHandle(name, { create: true });
      const size = (await handle.getFile()).size;
      const w = await handle.createWritable({ keepExistingData: true });
      await w.write({ type: 'write', position: size, data: bytes });
      await w.close();
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const fromKey = splitPath(from).join('/');
    const src = this.files.get(fromKey) ?? (await this.entry(from));
    if (!src) throw new StoreError('ENOENT', from);
    try {
      const [dstParent, dstName] = await this.parentAndName(to);
      if (src.kind === 'file') {
        // Like rename(2) on Node, a file move does not look before it leaps: the store never moves onto
        // an existing path, and the check was a round trip per file.
        if (src.move) {
          await src.move(dstParent, dstName);
          this.files.delete(fromKey);
          this.rememberFile(to, src);
          return;
        }
        if (await this.has(dstParent, dstName)) throw new StoreError('EEXIST', to);
        await this.copyFileHandle(src, dstParent, dstName);
        this.files.delete(fromKey);
      } else {
        if (await this.has(dstParent, dstName)) throw new StoreError('EEXIST', to);
        // Directory moves are not available everywhere (not in Chromium's OPFS); moving each file keeps
        // it a metadata operation where FileSystemFileHandle.move exists. Children move concurrently:
        // each move is a round trip, and they do not depend on each other.
        await dstParent.getDirectoryHandle(dstName, { create: true });
        const names: string[] = [];
        for await (const child of src.values()) names.push(child.name);
        await forEachConcurrently(names, RENAME_CONCURRENCY, (name) => this.rename(`${from}/${name}`, `${to}/${name}`));
      }
      const [srcParent, srcName] = await this.parentAndName(from);
      await srcParent.removeEntry(srcName, { recursive: true }).catch((e: unknown) => {
        if ((e as { name?: string }).name !== 'NotFoundError') throw e;
      });
    } catch (e) {
      throw mapError(e, from);
    } finally {
      if (src.kind === 'directory') this.forgetDirs(from);
    }
  }

  /** Whether `parent` has an entry `name` (one lookup for the common case: a file). */
  private async has(parent: DirHandleLike, name: string): Promise<boolean> {
    for (const getter of ['getFileHandle', 'getDirectoryHandle'] as const) {
      try {
        await parent[getter](name);
        return true;
      } catch (e) {
        const n = (e as { name?: string }).name;
        if (n !== 'NotFoundError' && n !== 'TypeMismatchError') throw e;
        if (n === 'NotFoundError') return false;
      }
    }
    return false;
  }

  private async copyFileHandle(src: FileHandleLike, parent: DirHandleLike, name: string): Promise<void> {
    const dst = await parent.getFileHandle(name, { create: true });
    const w = await dst.createWritable({ keepExistingData: false });
    const file = await src.getFile();
    const chunk = 1 << 20;
    for (let at = 0; at < file.size; at += chunk) {
      await w.write(new Uint8Array(await file.slice(at, Math.min(file.size, at + chunk)).arrayBuffer()));
    }
    await w.close();
  }

  async remove(path: string): Promise<void> {
    const parts = splitPath(path);
    this.forgetDirs(path);
    if (parts.length === 0) {
      const names: string[] = [];
      for await (const child of this.root.values()) names.push(child.name);
      for (const name of names) await this.root.removeEntry(name, { recursive: true });
      return;
    }
    try {
      const parent = await this.dir(parts.slice(0, -1));
      await parent.removeEntry(parts[parts.length - 1]!, { recursive: true });
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'NotFoundError' || name === 'TypeMismatchError') return;
      throw mapError(e, path);
    }
  }

  freeSpace(): Promise<number> {
    return this.options.freeSpace();
  }
}
