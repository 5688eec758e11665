import type { DirHandleLike, FileHandleLike, WritableLike } from '../../src/stores/handle-backend.ts';

/** An in-memory FileSystemDirectoryHandle with the DOMException names real browsers use. */
function domError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

export class MemoryFileHandle implements FileHandleLike {
  readonly kind = 'file' as const;
  data = new Uint8Array(0);
  lastModified = Date.now();
  constructor(
    public name: string,
    public parent: MemoryDirectoryHandle,
  ) {}

  async getFile(): Promise<Blob & { lastModified: number }> {
    return new File([this.data.slice()], this.name, { lastModified: this.lastModified });
  }

  async createWritable(options?: { keepExistingData?: boolean }): Promise<WritableLike> {
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
        this.lastModified = Date.now();
      },
      abort: async () => undefined,
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
    this.children.delete(name);
  }

  async *values(): AsyncIterable<DirHandleLike | FileHandleLike> {
    yield* [...this.children.values()];
  }
}
