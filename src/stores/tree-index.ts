import { StoreError } from './errors.ts';
import { baseName, joinPath, ownName, parentPath } from './paths.ts';
import type { EntryKind, StorageBackend } from './storage-backend.ts';
import { HexNameSet } from './hex-name-set.ts';

/*
 * Why these exist: a backup writes thousands of small files, and asking the file system "is there
 * a folder here? a file there?" several times per file cost more than writing the files (every
 * question is a thread-pool round trip on Node, a promise per path segment in OPFS). A session is
 * the only writer of its staging folder and the current backup is never written during a session,
 * so both can be answered from memory: exactly for staging, one directory listing at a time for
 * the current backup.
 */

interface IndexNode {
  kind: EntryKind;
  children?: Map<string, IndexNode>;
  /** Files named by a 40-hex fileID (nearly all of a backup's), kept compact instead of in `children`. */
  hexFiles?: HexNameSet;
}

/** Every file node is alike and never changed (a kind change replaces the node): one object for all of them. */
const FILE_NODE: IndexNode = Object.freeze({ kind: 'file' });

function childOf(dir: IndexNode, name: string): IndexNode | undefined {
  // A name is in one of the two at most; the compact set first spares hashing a 40-digit string for the Map.
  if (dir.hexFiles !== undefined && name.length === 40 && dir.hexFiles.has(name)) return FILE_NODE;
  return dir.children?.get(name);
}

function setChild(dir: IndexNode, name: string, node: IndexNode): void {
  // add() checks the name as it converts it: one pass over its 40 digits.
  if (node === FILE_NODE && name.length === 40 && (dir.hexFiles ??= new HexNameSet()).add(name)) {
    dir.children!.delete(name);
  } else {
    dir.hexFiles?.delete(name);
    dir.children!.set(ownName(name), node);
  }
}

function deleteChild(dir: IndexNode | null | undefined, name: string): void {
  dir?.children?.delete(name);
  dir?.hexFiles?.delete(name);
}

/** An exact in-memory mirror of the kinds under one folder that only its owner writes. */
export class OwnedTreeIndex {
  private root: IndexNode = { kind: 'directory', children: new Map() };

  /** Mirrors what is on the backend under `dir` now (a resumed staging). */
  static async load(backend: StorageBackend, dir: string): Promise<OwnedTreeIndex> {
    const index = new OwnedTreeIndex();
    const fill = async (node: IndexNode, path: string): Promise<void> => {
      for (const e of await backend.list(path)) {
        const child: IndexNode = e.kind === 'directory' ? { kind: 'directory', children: new Map() } : FILE_NODE;
        setChild(node, e.name, child);
        if (e.kind === 'directory') await fill(child, joinPath(path, e.name));
      }
    };
    await fill(index.root, dir);
    return index;
  }

  private node(path: string): IndexNode | null {
    if (path === '') return this.root;
    let node: IndexNode | undefined = this.root;
    for (const part of path.split('/')) {
      node = childOf(node, part);
      if (!node) return null;
    }
    return node;
  }

  kind(path: string): EntryKind | null {
    return this.node(path)?.kind ?? null;
  }

  /** Names and kinds one level below `path` (empty for a file or nothing). */
  children(path: string): { name: string; kind: EntryKind }[] {
    const node = this.node(path);
    if (!node?.children) return [];
    const out = [...node.children].map(([name, n]) => ({ name, kind: n.kind }));
    if (node.hexFiles) for (const name of node.hexFiles.names()) out.push({ name, kind: 'file' });
    return out;
  }

  /** `path` and its ancestors are directories now (anything else in the way was replaced on disk). */
  addDirectories(path: string): void {
    this.directory(path);
  }

  /** The node of directory `path`, made (with its ancestors) where missing or not a directory. */
  private directory(path: string): IndexNode {
    let node = this.root;
    if (path === '') return node;
    for (const part of path.split('/')) {
      let next = childOf(node, part);
      if (!next || next.kind !== 'directory') {
        next = { kind: 'directory', children: new Map() };
        setChild(node, part, next);
      }
      node = next;
    }
    return node;
  }

  addFile(path: string): void {
    // A backup's staging holds one of these per file it received (1.3M on a power user's phone).
    setChild(this.directory(parentPath(path)), baseName(path), FILE_NODE);
  }

  /** Adds the file `path` if its folder is still a directory here; false (and nothing added) if not. */
  addFileIfFolder(path: string): boolean {
    const dir = this.node(parentPath(path));
    if (dir?.kind !== 'directory') return false;
    setChild(dir, baseName(path), FILE_NODE);
    return true;
  }

  /** Forgets `path` and everything below it ('' empties the whole tree). */
  delete(path: string): void {
    if (path === '') {
      this.root = { kind: 'directory', children: new Map() };
      return;
    }
    deleteChild(this.node(parentPath(path)), baseName(path));
  }

  /** Moves a subtree; `to` must be free and its parent a directory. */
  move(from: string, to: string): void {
    if (from === '') return;
    const fromDir = this.node(parentPath(from));
    const name = baseName(from);
    const node = fromDir ? childOf(fromDir, name) : undefined;
    if (!node) return;
    deleteChild(fromDir, name);
    setChild(this.directory(parentPath(to)), baseName(to), node);
  }
}

/**
 * Kinds of entries in a folder nobody writes while we look (the current backup during a session),
 * learnt one directory listing at a time and remembered. On a backend with a synchronous stat, a
 * folder's first paths are asked one at a time and it is listed only once asked about often: an
 * incremental backup of a 1.3M-file phone moves 40–100 files into each of 256 folders of ≈5,000, and
 * listing them (1.3M names, to find each folder too big to remember) cost its moves 1.4 s.
 */
export class ReadOnlyTreeIndex {
  /** A folder's listing, or BIG for a folder with more entries than are worth remembering. */
  private readonly listings = new Map<string, Map<string, EntryKind> | typeof BIG | null>();
  /** Paths asked by a synchronous stat in each folder not listed yet. */
  private readonly statted = new Map<string, number>();

  constructor(
    private readonly backend: StorageBackend,
    private readonly root: string,
  ) {}

  async kind(path: string): Promise<EntryKind | null> {
    const now = this.kindNow(path);
    if (now !== undefined) return now;
    await this.listing(path === '' ? '' : parentPath(path));
    const known = this.kindNow(path);
    // Only a big folder on a backend without a synchronous stat is left to ask.
    return known !== undefined ? known : ((await this.backend.stat(joinPath(this.root, path)))?.kind ?? null);
  }

  /**
   * kind() where it is answered without waiting: from a listing already made, or by the backend's
   * synchronous stat. undefined when only kind() can tell.
   */
  kindNow(path: string): EntryKind | null | undefined {
    const dir = path === '' ? '' : parentPath(path);
    const listing = this.listings.get(dir);
    if (listing === undefined) return this.kindBeforeListing(dir, path);
    if (path === '') return listing ? 'directory' : null;
    if (listing === BIG) return this.backend.statKindNow ? this.backend.statKindNow(joinPath(this.root, path)) : undefined;
    return listing?.get(baseName(path)) ?? null;
  }

  /**
   * A path in a folder not listed yet: nothing when the listing around that folder says it is none,
   * else a synchronous stat while the folder has been asked about only a few times.
   */
  private kindBeforeListing(dir: string, path: string): EntryKind | null | undefined {
    // Whether `dir` is a folder, where the listing around it tells.
    let known = dir === '';
    if (!known) {
      const around = this.listings.get(parentPath(dir));
      if (around === null || (around instanceof Map && around.get(baseName(dir)) !== 'directory')) return null;
      known = around instanceof Map;
    }
    if (!this.backend.statKindNow || path === '') return undefined;
    const asked = this.statted.get(dir) ?? 0;
    if (asked >= STATS_BEFORE_LISTING) return undefined;
    // Otherwise a folder's first question asks the folder too: one that does not exist (a backup's
    // Snapshot/xx) then answers every later path without a call.
    if (asked === 0 && !known && this.backend.statKindNow(joinPath(this.root, dir)) !== 'directory') {
      this.listings.set(dir, null);
      return null;
    }
    this.statted.set(dir, asked + 1);
    return this.backend.statKindNow(joinPath(this.root, path));
  }

  /** Names and kinds one level below `path`; null if it is not a directory. */
  async children(path: string): Promise<{ name: string; kind: EntryKind }[] | null> {
    const listing = await this.listing(path);
    if (listing === BIG) return (await this.backend.list(joinPath(this.root, path))).map((e) => ({ name: e.name, kind: e.kind }));
    return listing ? [...listing].map(([name, kind]) => ({ name, kind })) : null;
  }

  private async listing(dir: string): Promise<Map<string, EntryKind> | typeof BIG | null> {
    const known = this.listings.get(dir);
    if (known !== undefined) return known;
    let result: Map<string, EntryKind> | typeof BIG | null = null;
    // Only list what the parent's listing says is a folder: a missing path costs no call.
    if (dir === '' || (await this.kind(dir)) === 'directory') {
      try {
        const entries = await this.backend.list(joinPath(this.root, dir));
        result = entries.length > MAX_REMEMBERED_LISTING ? BIG : new Map(entries.map((e) => [e.name, e.kind]));
      } catch (e) {
        if (!(e instanceof StoreError) || (e.errno !== 'ENOENT' && e.errno !== 'ENOTDIR')) throw e;
      }
    }
    this.listings.set(dir, result);
    return result;
  }
}

/**
 * Folders with more entries than this are asked one path at a time instead of remembered: a
 * power user's backup has ≈5,000 files in each of its 256 folders, and remembering them all (1.3M
 * names) would cost more memory than the rest of the backup. Smaller backups stay on listings.
 */
const MAX_REMEMBERED_LISTING = 2048;
/**
 * Paths of one folder asked by a synchronous stat before the folder is listed (and remembered, if
 * small). A listing of MAX_REMEMBERED_LISTING names costs about what 300–500 stats do (≈1 µs a
 * name against 4–7 µs a stat on Node), so a folder costs at most about twice the cheaper of the two
 * ways, whatever its size, and a big folder is listed only when a backup touches a tenth of it.
 */
const STATS_BEFORE_LISTING = 512;
const BIG = Symbol('big listing');
