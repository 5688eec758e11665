import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { StoreError, type StoreErrno } from '../errors.ts';
import { splitPath } from '../paths.ts';
import type { DirectoryEntry, EntryStat, FileSink, StorageBackend } from '../storage-backend.ts';

const KNOWN: ReadonlySet<string> = new Set(['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ELOOP', 'EIO', 'ENOSPC', 'EACCES']);

function mapError(e: unknown, path: string): StoreError {
  if (e instanceof StoreError) return e;
  const code = (e as { code?: string }).code;
  const errno: StoreErrno = code && KNOWN.has(code) ? (code as StoreErrno) : code === 'EPERM' ? 'EACCES' : code === 'ENOTEMPTY' ? 'EEXIST' : 'EIO';
  return new StoreError(errno, path, (e as Error).message, e);
}

/** StorageBackend over node:fs rooted at one directory. Free space is the volume's real figure (statfs). */
export class NodeFsBackend implements StorageBackend {
  readonly root: string;

  constructor(root: string) {
    this.root = nodePath.resolve(root);
  }

  private abs(path: string): string {
    return nodePath.join(this.root, ...splitPath(path));
  }

  async stat(path: string): Promise<EntryStat | null> {
    try {
      const st = await fs.stat(this.abs(path));
      return { kind: st.isDirectory() ? 'directory' : 'file', size: st.isDirectory() ? 0 : st.size, mtime: st.mtime };
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw mapError(e, path);
    }
  }

  async list(path: string): Promise<DirectoryEntry[]> {
    try {
      const entries = await fs.readdir(this.abs(path), { withFileTypes: true });
      return entries.map((e) => ({ name: e.name, kind: e.isDirectory() ? 'directory' : 'file' }));
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async mkdirp(path: string): Promise<void> {
    try {
      await fs.mkdir(this.abs(path), { recursive: true });
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async createFile(path: string): Promise<FileSink> {
    const abs = this.abs(path);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(abs, 'w');
    } catch (e) {
      throw mapError(e, path);
    }
    let closed = false;
    return {
      write: async (chunk) => {
        try {
          let done = 0;
          while (done < chunk.byteLength) {
            const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
            done += bytesWritten;
          }
        } catch (e) {
          throw mapError(e, path);
        }
      },
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await handle.close();
        } catch (e) {
          throw mapError(e, path);
        }
      },
      abort: async () => {
        if (!closed) {
          closed = true;
          await handle.close().catch(() => undefined);
        }
        await fs.rm(abs, { force: true });
      },
    };
  }

  async *read(path: string, chunkSize: number): AsyncIterable<Uint8Array> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.abs(path), 'r');
    } catch (e) {
      throw mapError(e, path);
    }
    try {
      for (;;) {
        const buf = new Uint8Array(chunkSize);
        const { bytesRead } = await handle.read(buf, 0, chunkSize, null);
        if (bytesRead === 0) return;
        yield bytesRead === chunkSize ? buf : buf.subarray(0, bytesRead);
      }
    } catch (e) {
      throw mapError(e, path);
    } finally {
      await handle.close();
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
      await fs.appendFile(this.abs(path), bytes);
    } catch (e) {
      throw mapError(e, path);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      await fs.rename(this.abs(from), this.abs(to));
    } catch (e) {
      throw mapError(e, from);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await fs.rm(this.abs(path), { recursive: true, force: true });
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
