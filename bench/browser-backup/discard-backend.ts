// A StorageBackend that keeps the tree and small files in memory and counts large files' bytes
// without keeping them: the OPFS bench's baseline for "everything but storage".
import { StoreError } from '../../src/stores/errors.ts';
import type { DirectoryEntry, EntryStat, FileSink, StorageBackend } from '../../src/stores/storage-backend.ts';

type Node = { kind: 'file'; size: number; data: Uint8Array[] } | { kind: 'directory'; children: Map<string, Node> };
const KEEP_BELOW = 1 << 20;

export class DiscardBackend implements StorageBackend {
  private readonly root: Node = { kind: 'directory', children: new Map() };

  private find(path: string): Node | null {
    let n: Node = this.root;
    for (const p of path.split('/').filter(Boolean)) {
      if (n.kind !== 'directory') return null;
      const c = n.children.get(p);
      if (!c) return null;
      n = c;
    }
    return n;
  }

  private parent(path: string): [Map<string, Node>, string] {
    const parts = path.split('/').filter(Boolean);
    const name = parts.pop()!;
    const d = this.find(parts.join('/'));
    if (!d || d.kind !== 'directory') throw new StoreError('ENOENT', path);
    return [d.children, name];
  }

  async stat(path: string): Promise<EntryStat | null> {
    const n = this.find(path);
    return n ? { kind: n.kind, size: n.kind === 'file' ? n.size : 0, mtime: new Date(0) } : null;
  }

  async list(path: string): Promise<DirectoryEntry[]> {
    const n = this.find(path);
    if (!n) throw new StoreError('ENOENT', path);
    if (n.kind !== 'directory') throw new StoreError('ENOTDIR', path);
    return [...n.children].map(([name, c]) => ({ name, kind: c.kind }));
  }

  async mkdirp(path: string): Promise<void> {
    let n = this.root;
    for (const p of path.split('/').filter(Boolean)) {
      if (n.kind !== 'directory') throw new StoreError('ENOTDIR', path);
      let c = n.children.get(p);
      if (!c) {
        c = { kind: 'directory', children: new Map() };
        n.children.set(p, c);
      }
      n = c;
    }
  }

  async createFile(path: string): Promise<FileSink> {
    const [dir, name] = this.parent(path);
    const f: Node = { kind: 'file', size: 0, data: [] };
    dir.set(name, f);
    return {
      write: async (chunk) => {
        f.size += chunk.byteLength;
        if (f.size < KEEP_BELOW) f.data.push(chunk.slice());
      },
      close: async () => undefined,
      abort: async () => void dir.delete(name),
    };
  }

  async *read(path: string): AsyncIterable<Uint8Array> {
    yield await this.readAll(path);
  }

  async readAll(path: string): Promise<Uint8Array> {
    const n = this.find(path);
    if (!n || n.kind !== 'file') throw new StoreError('ENOENT', path);
    const out = new Uint8Array(n.size < KEEP_BELOW ? n.size : 0);
    let at = 0;
    for (const c of n.data) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }

  async append(path: string, bytes: Uint8Array): Promise<void> {
    const [dir, name] = this.parent(path);
    const f = dir.get(name);
    if (f?.kind === 'file') {
      f.data.push(bytes.slice());
      f.size += bytes.byteLength;
    } else {
      dir.set(name, { kind: 'file', size: bytes.byteLength, data: [bytes.slice()] });
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const [a, an] = this.parent(from);
    const n = a.get(an);
    if (!n) throw new StoreError('ENOENT', from);
    const [b, bn] = this.parent(to);
    a.delete(an);
    b.set(bn, n);
  }

  async remove(path: string): Promise<void> {
    try {
      const [dir, name] = this.parent(path);
      dir.delete(name);
    } catch {
      // Missing parent: nothing to remove.
    }
  }

  async freeSpace(): Promise<number> {
    return 1e12;
  }
}
