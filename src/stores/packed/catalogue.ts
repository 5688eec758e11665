import { StoreError } from '../errors.ts';
import { ownName as own, splitPath } from '../paths.ts';
import type { DirectoryEntry, EntryKind, EntryStat } from '../storage-backend.ts';
import { FileNode } from './file-node.ts';
import { HexFileTable } from './hex-file-table.ts';
import { readHex } from '../hex-name-set.ts';

export { FileNode } from './file-node.ts';

/*
 * The whole namespace of a packed store, in memory. Compactness matters: a 1.3M-file backup keeps
 * every file's entry for the whole session. Payload files (40-hex names) live in each folder's
 * HexFileTable, outside the JS heap; other names (a backup's plists, folders) in a Map.
 */

/** File dates are whole seconds since 2020 so they stay small integers (Smis) until 2054. */
const EPOCH_MS = Date.UTC(2020, 0, 1);
export const toStoredTime = (ms: number): number => Math.round((ms - EPOCH_MS) / 1000);
const fromStoredTime = (s: number): Date => new Date(EPOCH_MS + s * 1000);

export class DirNode {
  readonly children = new DirChildren();
}

/** A folder's children by name, Map-shaped: payload files in a HexFileTable, everything else in a Map. */
export class DirChildren {
  private readonly byName = new Map<string, Node>();
  private hex: HexFileTable | undefined;

  get size(): number {
    return this.byName.size + (this.hex?.size ?? 0);
  }

  /** The child; a file from the table is a fresh FileNode each time (compare files by value). */
  get(name: string): Node | undefined {
    return this.byName.get(name) ?? this.hex?.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name) || (this.hex?.has(name) ?? false);
  }

  set(name: string, node: Node): this {
    if (node instanceof FileNode && HexFileTable.fits(name)) {
      if (this.byName.size > 0) this.byName.delete(name);
      (this.hex ??= new HexFileTable()).set(name, node);
    } else {
      this.hex?.delete(name);
      this.byName.set(name, node);
    }
    return this;
  }

  /** `set` of a payload file whose name is given as its 20 bytes at `key[at]` (see HexFileTable.setRecord). */
  setRecord(key: Uint8Array, at: number, store: number, offset: number, size: number, mtime: number, blob: boolean): void {
    if (this.byName.size > 0) this.byName.delete(readHex(key, at));
    (this.hex ??= new HexFileTable()).setRecord(key, at, store, offset, size, mtime, blob);
  }

  delete(name: string): boolean {
    return this.byName.delete(name) || (this.hex?.delete(name) ?? false);
  }

  clear(): void {
    this.byName.clear();
    this.hex = undefined;
  }

  /** Calls back for every child; files from the table come as their name's bytes and fields (no object is built). */
  forEachChild(
    onNode: (name: string, node: Node) => void,
    onRecord: (keys: Uint8Array, at: number, store: number, offset: number, size: number, mtime: number, blob: boolean) => void,
  ): void {
    for (const [name, node] of this.byName) onNode(name, node);
    this.hex?.forEachRecord(onRecord);
  }

  /** The children kept by name (folders and files whose names are not 40 hex digits). */
  named(): IterableIterator<[string, Node]> {
    return this.byName.entries();
  }

  /** How many files the payload table holds. */
  get tableSize(): number {
    return this.hex?.size ?? 0;
  }

  /** Bytes the payload table holds outside the JS heap. */
  get tableBytes(): number {
    return this.hex?.byteLength ?? 0;
  }

  *[Symbol.iterator](): Generator<[string, Node]> {
    yield* this.byName;
    if (this.hex) yield* this.hex.entries();
  }

  entries(): Generator<[string, Node]> {
    return this[Symbol.iterator]();
  }

  *values(): Generator<Node> {
    yield* this.byName.values();
    if (this.hex) yield* this.hex.values();
  }
}

export type Node = DirNode | FileNode;

/** What a file's bytes occupy, for space accounting. */
export interface Extent {
  store: number;
  size: number;
  blob: boolean;
}

/** Called for every file that leaves the namespace (removed or replaced). */
export type ReleaseFn = (extent: Extent) => void;

/** Journal records: each is one catalogue change, replayed in order on open. */
export type CatalogueRecord =
  | ['D', string] // mkdirp
  | ['F', string, number, number, number, number, 0 | 1] // set file: path, store, offset, size, mtime, blob
  | ['R', string, string] // rename
  | ['X', string] // remove (recursive)
  | ['N', number]; // ids below this number have been handed out

const DIR_STAT_TIME = new Date(0);
/** Directories whose paths are remembered (see Catalogue.dirCache); past it the cache starts over. */
const DIR_CACHE_SIZE = 4096;

/** `path` as [parent path, last name], with splitPath's checks on the name (the parent is checked when it is looked up). */
function splitLast(path: string): [string, string] | null {
  if (path === '' || path === '/') return null;
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  const i = trimmed.lastIndexOf('/');
  const name = trimmed.slice(i + 1);
  // An empty part just before the name ('a//b') would pass the parent's own check ('a/').
  if (i === 0 || (i > 0 && trimmed[i - 1] === '/') || name === '' || name === '.' || name === '..' || name.includes('\\') || name.includes('\0')) {
    throw new StoreError('EINVAL', path, 'path must be relative and may not contain "..", "." or empty parts');
  }
  return [i < 0 ? '' : trimmed.slice(0, i), name];
}

export class Catalogue {
  root = new DirNode();
  /** Pack and blob ids are never reused, so a reader's stale location can never name other bytes. */
  nextId = 1;

  /**
   * Directories by the path they were last looked up with: a backup puts thousands of files into
   * the same few folders, and walking from the root (split, check and a Map hit per part) for each
   * was a visible share of a file's cost. Dropped whenever a directory moves or goes.
   */
  private readonly dirCache = new Map<string, DirNode>();

  lookup(path: string): Node | null {
    const cached = this.dirCache.get(path);
    if (cached) return cached;
    let node: Node = this.root;
    for (const part of splitPath(path)) {
      if (!(node instanceof DirNode)) return null;
      const child: Node | undefined = node.children.get(part);
      if (!child) return null;
      node = child;
    }
    if (node instanceof DirNode) {
      if (this.dirCache.size >= DIR_CACHE_SIZE) this.dirCache.clear();
      this.dirCache.set(path, node);
    }
    return node;
  }

  /** Called when a directory leaves its place (rename or remove): cached paths may now be wrong. */
  private forgetDirectories(): void {
    this.dirCache.clear();
  }

  stat(path: string): EntryStat | null {
    const node = this.lookup(path);
    if (!node) return null;
    if (node instanceof DirNode) return { kind: 'directory', size: 0, mtime: DIR_STAT_TIME };
    return { kind: 'file', size: node.size, mtime: fromStoredTime(node.mtime) };
  }

  entryKind(path: string): EntryKind | null {
    const node = this.lookup(path);
    return node === null ? null : node instanceof DirNode ? 'directory' : 'file';
  }

  list(path: string): DirectoryEntry[] {
    const node = this.lookup(path);
    if (!node) throw new StoreError('ENOENT', path);
    if (!(node instanceof DirNode)) throw new StoreError('ENOTDIR', path);
    const out: DirectoryEntry[] = [];
    for (const [name, child] of node.children) out.push({ name, kind: child instanceof DirNode ? 'directory' : 'file' });
    return out;
  }

  /** The directory `path` must already be; throws ENOENT/ENOTDIR. */
  directory(path: string): DirNode {
    const node = this.lookup(path);
    if (!node) throw new StoreError('ENOENT', path);
    if (!(node instanceof DirNode)) throw new StoreError('ENOTDIR', path);
    return node;
  }

  /** Whether anything was created. */
  mkdirp(path: string): boolean {
    const parts = splitPath(path);
    let node: DirNode = this.root;
    let created = false;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const child = node.children.get(part);
      if (child instanceof DirNode) {
        node = child;
        continue;
      }
      if (child) throw new StoreError(i === parts.length - 1 ? 'EEXIST' : 'ENOTDIR', parts.slice(0, i + 1).join('/'));
      const made = new DirNode();
      node.children.set(own(part), made);
      node = made;
      created = true;
    }
    return created;
  }

  /** Creates or replaces the file at `path`; its parent must exist. */
  setFile(path: string, file: FileNode, release: ReleaseFn): void {
    const split = splitLast(path);
    if (!split) throw new StoreError('EISDIR', path);
    const [parentPath, name] = split;
    const parent = this.directory(parentPath);
    const old = parent.children.get(name);
    if (old instanceof DirNode) throw new StoreError('EISDIR', path);
    if (old) release(old);
    parent.children.set(old ? name : own(name), file);
  }

  /** rename(2) semantics: a file replaces a file; onto a directory is EEXIST; `to`'s parent must exist. */
  rename(from: string, to: string, release: ReleaseFn): void {
    const src = splitLast(from);
    const dst = splitLast(to);
    if (!src || !dst) throw new StoreError('EINVAL', from, 'the root cannot move');
    const [srcParentPath, srcName] = src;
    const srcParent = this.directory(srcParentPath);
    const node = srcParent.children.get(srcName);
    if (!node) throw new StoreError('ENOENT', from);
    const [dstParentPath, dstName] = dst;
    const dstParent = this.directory(dstParentPath);
    if (node instanceof DirNode && (to === from || to.startsWith(`${from}/`))) throw new StoreError('EINVAL', to, 'cannot move a folder into itself');
    // Onto itself: nothing moves (files are compared by place, as the table hands out copies).
    if (srcParent === dstParent && srcName === dstName) return;
    const existing = dstParent.children.get(dstName);
    if (existing) {
      if (existing instanceof DirNode || node instanceof DirNode) throw new StoreError('EEXIST', to);
      release(existing);
    }
    if (node instanceof DirNode) this.forgetDirectories();
    srcParent.children.delete(srcName);
    dstParent.children.set(own(dstName), node);
  }

  /** Recursive; a missing path is fine. Removing '' empties the root. */
  remove(path: string, release: ReleaseFn): void {
    const parts = splitPath(path);
    if (parts.length === 0) {
      releaseTree(this.root, release);
      this.root.children.clear();
      this.forgetDirectories();
      return;
    }
    const name = parts.pop()!;
    const parent = this.lookup(parts.join('/'));
    if (!(parent instanceof DirNode)) return;
    const node = parent.children.get(name);
    if (!node) return;
    if (node instanceof DirNode) {
      releaseTree(node, release);
      this.forgetDirectories();
    } else release(node);
    parent.children.delete(name);
  }

  apply(record: CatalogueRecord, release: ReleaseFn): void {
    switch (record[0]) {
      case 'D':
        this.mkdirp(record[1]);
        return;
      case 'F':
        this.setFile(record[1], new FileNode(record[2], record[3], record[4], record[5], record[6] === 1), release);
        return;
      case 'R':
        this.rename(record[1], record[2], release);
        return;
      case 'X':
        this.remove(record[1], release);
        return;
      case 'N':
        this.nextId = Math.max(this.nextId, record[1]);
        return;
    }
  }

  /** Every file with its path, depth first. */
  *files(dir: DirNode = this.root, prefix = ''): Generator<[string, FileNode]> {
    for (const [name, child] of dir.children) {
      const path = prefix === '' ? name : `${prefix}/${name}`;
      if (child instanceof DirNode) yield* this.files(child, path);
      else yield [path, child];
    }
  }

  /**
   * The snapshot form: nested arrays, a directory as [name, [children]] and a file as
   * [name, store, offset, size, mtime, blob]. Nesting keeps each name once instead of whole paths.
   */
  toJSON(): unknown {
    const dir = (node: DirNode): unknown[] => {
      const out: unknown[] = [];
      node.children.forEachChild(
        (name, child) => out.push(child instanceof DirNode ? [name, dir(child)] : [name, child.store, child.offset, child.size, child.mtime, child.blob ? 1 : 0]),
        (keys, at, store, offset, size, mtime, blob) => out.push([readHex(keys, at), store, offset, size, mtime, blob ? 1 : 0]),
      );
      return out;
    };
    return { nextId: this.nextId, root: dir(this.root) };
  }

  static fromJSON(json: unknown): Catalogue {
    const { nextId, root } = json as { nextId: number; root: unknown[] };
    const catalogue = new Catalogue();
    catalogue.nextId = nextId;
    const fill = (node: DirNode, entries: unknown[]): void => {
      for (const e of entries as unknown[][]) {
        const name = e[0] as string;
        if (e.length === 2) {
          const child = new DirNode();
          node.children.set(name, child);
          fill(child, e[1] as unknown[]);
        } else {
          node.children.set(name, new FileNode(e[1] as number, e[2] as number, e[3] as number, e[4] as number, e[5] === 1));
        }
      }
    };
    fill(catalogue.root, root);
    return catalogue;
  }
}

function releaseTree(dir: DirNode, release: ReleaseFn): void {
  for (const child of dir.children.values()) {
    if (child instanceof DirNode) releaseTree(child, release);
    else release(child);
  }
}
