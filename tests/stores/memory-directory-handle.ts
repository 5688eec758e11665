import type { DirHandleLike, FileHandleLike, SyncAccessHandleLike, WritableLike } from '../../src/stores/handle-backend.ts';

/**
 * An in-memory FileSystemDirectoryHandle with the DOMException names real browsers use, including
 * what OPFS does in a dedicated worker: exclusive sync access handles, and File snapshots that go
 * stale (NotReadableError) once the file changes after getFile().
 */
function domError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

export class MemoryFileHandle implements FileHandleLike {
  readonly kind = 'file' as const;
  private bytes: Uint8Array = new Uint8Array(0);
  private length = 0;
  /** Bumped on every change: a File snapshot taken before it is stale. */
  version = 0;
  lastModified = Date.now();
  /** Open sync access handles, locked as Chromium does: one read-write, or any number read-only. */
  private writerOpen = false;
  private readersOpen = 0;
  constructor(
    public name: string,
    public parent: MemoryDirectoryHandle,
  ) {}

  get data(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  set data(value: Uint8Array) {
    this.bytes = value;
    this.length = value.byteLength;
    this.touch();
  }

  private touch(): void {
    this.version++;
    this.lastModified = Date.now();
  }

  /** Writes at `at`, growing the buffer geometrically (packs grow by many small appends). */
  private put(src: Uint8Array, at: number): void {
    const end = at + src.byteLength;
    if (end > this.bytes.byteLength) {
      const grown = new Uint8Array(Math.max(end, this.bytes.byteLength * 2, 1024));
      grown.set(this.data);
      this.bytes = grown;
    }
    this.bytes.set(src, at);
    if (end > this.length) this.length = end;
    this.touch();
  }

  async getFile(): Promise<Blob & { lastModified: number }> {
    const version = this.version;
    const size = this.length;
    const check = (): void => {
      if (this.version !== version) throw domError('NotReadableError', 'the file changed since getFile()');
    };
    const view = (start: number, end: number) => ({
      size: end - start,
      arrayBuffer: async () => {
        check();
        return this.bytes.slice(start, end).buffer;
      },
    });
    return {
      ...view(0, size),
      lastModified: this.lastModified,
      slice: (start = 0, end = size) => view(Math.min(start, size), Math.min(end, size)),
    } as unknown as Blob & { lastModified: number };
  }

  async createWritable(options?: { keepExistingData?: boolean }): Promise<WritableLike> {
    if (this.locked) throw domError('NoModificationAllowedError', 'a sync access handle is open');
    let buf = options?.keepExistingData ? this.data.slice() : new Uint8Array(0);
    let pos = 0;
    const put = (bytes: Uint8Array, at: number): void => {
      if (at + bytes.byteLength > buf.byteLength) {
        const grown = new Uint8Array(at + bytes.byteLength);
        grown.set(buf);
        buf = grown;
      }
      buf.set(bytes, at);
    };
    return {
      write: async (d) => {
        if (d instanceof Uint8Array) {
          put(d, pos);
          pos += d.byteLength;
        } else {
          put(d.data, d.position);
          pos = d.position + d.data.byteLength;
        }
      },
      seek: async (p) => {
        pos = p;
      },
      close: async () => {
        this.data = buf;
      },
      abort: async () => undefined,
    };
  }

  /** Whether a sync access handle is open on this file. */
  get locked(): boolean {
    return this.writerOpen || this.readersOpen > 0;
  }

  releaseLock(): void {
    this.writerOpen = false;
    this.readersOpen = 0;
  }

  async createSyncAccessHandle(options?: { mode?: 'readwrite' | 'read-only' | 'readwrite-unsafe' }): Promise<SyncAccessHandleLike> {
    const readOnly = options?.mode === 'read-only';
    if (this.writerOpen || (!readOnly && this.readersOpen > 0)) throw domError('NoModificationAllowedError', 'a sync access handle is already open');
    if (readOnly) this.readersOpen++;
    else this.writerOpen = true;
    let open = true;
    const live = (): void => {
      if (!open) throw domError('InvalidStateError', 'the access handle was closed');
    };
    const writable = (): void => {
      live();
      if (readOnly) throw domError('NoModificationAllowedError', 'the access handle is read-only');
    };
    return {
      read: (buffer, options) => {
        live();
        const at = options?.at ?? 0;
        const n = Math.max(0, Math.min(buffer.byteLength, this.length - at));
        buffer.set(this.bytes.subarray(at, at + n));
        return n;
      },
      write: (buffer, options) => {
        writable();
        const at = options?.at ?? 0;
        const quota = this.parent.quota;
        const growth = Math.max(0, at + buffer.byteLength - this.length);
        if (quota && growth > quota.left) {
          // As Chromium 156 does at its quota: writes what fits, then returns FILE_ERROR_NO_SPACE (−8) as an unsigned count.
          const fits = buffer.byteLength - (growth - quota.left);
          if (fits > 0) this.put(buffer.subarray(0, fits), at);
          quota.left = 0;
          return 0xfffffff8;
        }
        if (quota) quota.left -= growth;
        this.put(buffer, at);
        return buffer.byteLength;
      },
      getSize: () => {
        live();
        return this.length;
      },
      truncate: (size) => {
        writable();
        if (size < this.length) {
          this.bytes.fill(0, size, this.length);
          this.length = size;
          this.touch();
        } else if (size > this.length) this.put(new Uint8Array(size - this.length), this.length);
      },
      flush: () => writable(),
      close: () => {
        if (open && readOnly) this.readersOpen--;
        else if (open) this.writerOpen = false;
        open = false;
      },
    };
  }

  async move(parent: DirHandleLike, name: string): Promise<void> {
    const target = parent as MemoryDirectoryHandle;
    if (target.children.get(name)?.kind === 'directory') throw domError('InvalidModificationError', 'target is a directory');
    this.parent.children.delete(this.name);
    this.name = name;
    this.parent = target;
    target.children.set(name, this);
  }
}

export class MemoryDirectoryHandle implements DirHandleLike {
  readonly kind = 'directory' as const;
  /** Bytes sync access handles may still add to this folder's files (a browser quota); null for no limit. */
  quota: { left: number } | null = null;
  readonly children = new Map<string, MemoryDirectoryHandle | MemoryFileHandle>();
  constructor(public name = '') {}

  async getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirHandleLike> {
    const child = this.children.get(name);
    if (child?.kind === 'directory') return child;
    if (child) throw domError('TypeMismatchError', `${name} is a file`);
    if (!options?.create) throw domError('NotFoundError', `${name} not found`);
    const dir = new MemoryDirectoryHandle(name);
    this.children.set(name, dir);
    return dir;
  }

  async getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandleLike> {
    const child = this.children.get(name);
    if (child?.kind === 'file') return child;
    if (child) throw domError('TypeMismatchError', `${name} is a directory`);
    if (!options?.create) throw domError('NotFoundError', `${name} not found`);
    const file = new MemoryFileHandle(name, this);
    this.children.set(name, file);
    return file;
  }

  async removeEntry(name: string, options?: { recursive?: boolean }): Promise<void> {
    const child = this.children.get(name);
    if (!child) throw domError('NotFoundError', `${name} not found`);
    if (child.kind === 'directory' && child.children.size > 0 && !options?.recursive) {
      throw domError('InvalidModificationError', 'directory not empty');
    }
    if (child.kind === 'file' && child.locked) throw domError('NoModificationAllowedError', `${name} has an open access handle`);
    this.children.delete(name);
  }

  async *values(): AsyncIterable<DirHandleLike | FileHandleLike> {
    yield* [...this.children.values()];
  }

  /** What a worker's death does: every sync access handle below here is released. */
  releaseLocks(): void {
    for (const child of this.children.values()) {
      if (child.kind === 'file') child.releaseLock();
      else child.releaseLocks();
    }
  }

  /** Bytes held by files below here (what OPFS would charge the origin). */
  bytesUsed(): number {
    let total = 0;
    for (const child of this.children.values()) total += child.kind === 'file' ? child.data.byteLength : child.bytesUsed();
    return total;
  }
}
