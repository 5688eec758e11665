import { ProceduralContent, type FileContent } from './content.ts';
import { hashString } from './prng.ts';
import { hexOf } from '../../core/hex.ts';
import type { DatasetEntry, EntryKind } from './dataset.ts';

const MODE_DIR = 0o40755;
/** Generated timestamps cluster after 2024-03-01T00:00:00Z; a derived folder carries this one. */
const DIR_TIME = 1709251200;

const REMOVED = 1;
const ENCRYPTED_ONLY = 2;
const KIND_FILE = 1;
const KIND_LINK = 4;
/** A content that is not a ProceduralContent lives in `contents`; a procedural one is only its key and size. */
const NO_KEY = 0xffff_ffff;

/**
 * The virtual iPhone's files as columns, one slot per file or link: a 1.3M-file phone as objects was
 * 1.2–1.5 GB of its worker's heap (an entry, its content, its path as a rope, a map key, a fileID per
 * file). Here a file costs its path string and a map entry on the heap and about 60 bytes of typed
 * arrays beside it. A slot is written once: a change tombstones it and takes a new one, so a listing
 * taken before the change still reads what it listed, and the same slot in two listings is the same
 * entry. Folders are derived from the paths and kept (with stable ids) once seen.
 */
export class FileTable {
  /** Slots used, removed ones included. */
  private used = 0;
  private capacity = 0;
  private domainOf = new Uint32Array(0);
  private readonly paths: string[] = [];
  private kinds = new Uint8Array(0);
  private bits = new Uint8Array(0);
  private sizes = new Float64Array(0);
  private mtimes = new Float64Array(0);
  private inodes = new Float64Array(0);
  // Float64: a restore brings whatever numbers the backup's MBFiles hold, and they must come back as they were.
  private modes = new Float64Array(0);
  private classes = new Float64Array(0);
  private keys = new Uint32Array(0);
  private fileIds = new Uint8Array(0);
  private fileIdKnown = new Uint8Array(0);
  private readonly contents = new Map<number, FileContent>();
  private readonly targets = new Map<number, string>();

  readonly domains: string[] = [];
  private readonly domainIds = new Map<string, number>();
  /**
   * Live slots by path, one map per domain (its keys are the column's own strings), made the first time
   * a domain is searched: a generated phone's 1.3M names are new by construction (addNew), and maps of
   * them all were a tenth of its worker's heap.
   */
  private readonly byPath: (Map<string, number> | undefined)[] = [];

  private dirCount = 0;
  private dirDomain = new Uint32Array(0);
  private readonly dirPaths: string[] = [];
  private readonly dirByPath: Map<string, number>[] = [];
  private dirFileIds = new Uint8Array(0);
  private dirFileIdKnown = new Uint8Array(0);

  /** Live slots. */
  live = 0;

  /** Slots ever used (removed ones included): every slot number is below it. */
  get slotCount(): number {
    return this.used;
  }

  /** Folders ever seen: every folder id is below it. */
  get folderCount(): number {
    return this.dirCount;
  }

  /** Adds a file or link; one already at that path is replaced. Returns the new slot. */
  add(entry: DatasetEntry): number {
    const existing = this.find(entry.domain, entry.relativePath);
    if (existing !== undefined) this.remove(existing);
    return this.addNew(entry);
  }

  /** `slot`'s entry changed (same domain and path): the slot is kept as it was and a new one takes its place. */
  replace(slot: number, entry: DatasetEntry): number {
    this.remove(slot);
    return this.addNew(entry);
  }

  /** Adds a file or link the caller knows is not there yet (a generated name). */
  addNew(entry: DatasetEntry): number {
    if (entry.kind === 'dir') throw new Error(`${entry.domain}-${entry.relativePath}: folders are derived from the paths, not added`);
    const domain = this.domainId(entry.domain);
    if (this.used === this.capacity) this.grow();
    const slot = this.used++;
    this.domainOf[slot] = domain;
    this.paths.push(entry.relativePath);
    this.kinds[slot] = entry.kind === 'symlink' ? KIND_LINK : KIND_FILE;
    this.bits[slot] = entry.encryptedOnly ? ENCRYPTED_ONLY : 0;
    this.sizes[slot] = entry.size;
    this.mtimes[slot] = entry.mtime;
    this.inodes[slot] = entry.inode;
    this.modes[slot] = entry.mode;
    this.classes[slot] = entry.protectionClass;
    const content = entry.content;
    if (content instanceof ProceduralContent && content.size === entry.size && Number.isInteger(content.key) && content.key >= 0 && content.key < NO_KEY) {
      this.keys[slot] = content.key;
    } else {
      this.keys[slot] = NO_KEY;
      if (content) this.contents.set(slot, content);
    }
    if (entry.target !== undefined) this.targets.set(slot, entry.target);
    this.byPath[domain]?.set(entry.relativePath, slot);
    this.live++;
    return slot;
  }

  remove(slot: number): void {
    if (this.bits[slot]! & REMOVED) return;
    this.bits[slot]! |= REMOVED;
    this.byPath[this.domainOf[slot]!]?.delete(this.paths[slot]!);
    // A listing taken before still reads the slot; only the bytes go (a rewritten sms.db each time).
    this.contents.delete(slot);
    this.live--;
  }

  find(domain: string, relativePath: string): number | undefined {
    const id = this.domainIds.get(domain);
    if (id === undefined) return undefined;
    let index = this.byPath[id];
    if (!index) {
      index = new Map();
      for (let slot = 0; slot < this.used; slot++) if (this.domainOf[slot] === id && !(this.bits[slot]! & REMOVED)) index.set(this.paths[slot]!, slot);
      this.byPath[id] = index;
    }
    return index.get(relativePath);
  }

  /** Live slots in the order they were written. */
  *liveSlots(): Generator<number> {
    for (let slot = 0; slot < this.used; slot++) if (!(this.bits[slot]! & REMOVED)) yield slot;
  }

  isLive(slot: number): boolean {
    return slot < this.used && !(this.bits[slot]! & REMOVED);
  }

  domain(slot: number): string {
    return this.domains[this.domainOf[slot]!]!;
  }

  path(slot: number): string {
    return this.paths[slot]!;
  }

  isFile(slot: number): boolean {
    return this.kinds[slot] === KIND_FILE;
  }

  encryptedOnly(slot: number): boolean {
    return (this.bits[slot]! & ENCRYPTED_ONLY) !== 0;
  }

  size(slot: number): number {
    return this.sizes[slot]!;
  }

  mtime(slot: number): number {
    return this.mtimes[slot]!;
  }

  content(slot: number): FileContent | null {
    const key = this.keys[slot]!;
    if (key !== NO_KEY) return new ProceduralContent(key, this.sizes[slot]!);
    return this.contents.get(slot) ?? null;
  }

  /** The slot as the entry object the rest of the phone works with (a new object each time). */
  entry(slot: number): DatasetEntry {
    const file = this.kinds[slot] === KIND_FILE;
    const entry: DatasetEntry = {
      domain: this.domain(slot),
      relativePath: this.paths[slot]!,
      kind: file ? 'file' : 'symlink',
      size: this.sizes[slot]!,
      mode: this.modes[slot]!,
      mtime: this.mtimes[slot]!,
      protectionClass: this.classes[slot]!,
      inode: this.inodes[slot]!,
      content: file ? this.content(slot) : null,
    };
    const target = this.targets.get(slot);
    if (target !== undefined) entry.target = target;
    if (this.bits[slot]! & ENCRYPTED_ONLY) entry.encryptedOnly = true;
    return entry;
  }

  /** The folder's id, made the first time it is asked for. */
  dirId(domain: number, relativePath: string): number {
    const known = this.dirByPath[domain]!.get(relativePath);
    if (known !== undefined) return known;
    if (this.dirCount === this.dirDomain.length) {
      const capacity = Math.max(256, this.dirCount * 2);
      this.dirDomain = grown(this.dirDomain, capacity);
      this.dirFileIds = grown(this.dirFileIds, capacity * 20);
      this.dirFileIdKnown = grown(this.dirFileIdKnown, capacity);
    }
    const id = this.dirCount++;
    this.dirDomain[id] = domain;
    this.dirPaths.push(relativePath);
    this.dirByPath[domain]!.set(relativePath, id);
    return id;
  }

  dirDomainId(id: number): number {
    return this.dirDomain[id]!;
  }

  domainIdOf(slot: number): number {
    return this.domainOf[slot]!;
  }

  dirPath(id: number): string {
    return this.dirPaths[id]!;
  }

  dirEntry(id: number): DatasetEntry {
    const domain = this.domains[this.dirDomain[id]!]!;
    const relativePath = this.dirPaths[id]!;
    return {
      domain,
      relativePath,
      kind: 'dir',
      size: 0,
      mode: MODE_DIR,
      mtime: DIR_TIME,
      protectionClass: 0,
      inode: 100 + (hashString(`${domain}\u0000${relativePath}`) % 900_000_000),
      content: null,
    };
  }

  /**
   * The 20-byte name hash (fileID) of a slot (`item` ≥ 0) or a folder (`~id`), worked out by `hash` once
   * and kept: a phone that backs up again does not hash 1.3M names again.
   */
  fileId(item: number, hash: (domain: string, relativePath: string) => string): string {
    const dir = item < 0;
    const index = dir ? ~item : item;
    const known = dir ? this.dirFileIdKnown : this.fileIdKnown;
    const bytes = dir ? this.dirFileIds : this.fileIds;
    if (known[index]) return hexOf(bytes, index * 20, index * 20 + 20);
    const id = dir ? hash(this.domains[this.dirDomain[index]!]!, this.dirPaths[index]!) : hash(this.domain(index), this.paths[index]!);
    if (!/^[0-9a-f]{40}$/.test(id)) return id; // not a SHA-1 in hex: not kept
    for (let i = 0; i < 20; i++) bytes[index * 20 + i] = Number.parseInt(id.slice(i * 2, i * 2 + 2), 16);
    known[index] = 1;
    return id;
  }

  private domainId(domain: string): number {
    let id = this.domainIds.get(domain);
    if (id === undefined) {
      id = this.domains.length;
      this.domains.push(domain);
      this.domainIds.set(domain, id);
      this.byPath.push(undefined);
      this.dirByPath.push(new Map());
    }
    return id;
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    this.domainOf = grown(this.domainOf, capacity);
    this.kinds = grown(this.kinds, capacity);
    this.bits = grown(this.bits, capacity);
    this.sizes = grown(this.sizes, capacity);
    this.mtimes = grown(this.mtimes, capacity);
    this.inodes = grown(this.inodes, capacity);
    this.modes = grown(this.modes, capacity);
    this.classes = grown(this.classes, capacity);
    this.keys = grown(this.keys, capacity);
    this.fileIds = grown(this.fileIds, capacity * 20);
    this.fileIdKnown = grown(this.fileIdKnown, capacity);
    this.capacity = capacity;
  }
}

type Column = Uint8Array | Uint32Array | Float64Array;

/** A column of `length` elements holding `column`'s at the start (a table's columns grow by doubling). */
export function grown<T extends Column>(column: T, length: number): T {
  const next = new (column.constructor as new (n: number) => T)(length);
  next.set(column);
  return next;
}

/**
 * The entries of one moment, sorted by domain and path as BackupAgent2 enumerates them: files and
 * links (slots, ≥ 0) and their folders (`~id`). It stays valid after the data changes (slots are
 * never rewritten), so an incremental backup can tell which rows it sent are still the same.
 */
export class EntryList {
  readonly length: number;

  constructor(
    readonly table: FileTable,
    private readonly items: Int32Array,
  ) {
    this.length = items.length;
  }

  /** The slot (≥ 0) or folder (`~id`) at `i`: equal items of one table are the same entry. */
  item(i: number): number {
    return this.items[i]!;
  }

  domain(i: number): string {
    const item = this.items[i]!;
    return item >= 0 ? this.table.domain(item) : this.table.domains[this.table.dirDomainId(~item)]!;
  }

  relativePath(i: number): string {
    const item = this.items[i]!;
    return item >= 0 ? this.table.path(item) : this.table.dirPath(~item);
  }

  kind(i: number): EntryKind {
    const item = this.items[i]!;
    return item < 0 ? 'dir' : this.table.isFile(item) ? 'file' : 'symlink';
  }

  /** File size (0 for folders and links). */
  size(i: number): number {
    const item = this.items[i]!;
    return item >= 0 && this.table.isFile(item) ? this.table.size(item) : 0;
  }

  mtime(i: number): number {
    const item = this.items[i]!;
    return item >= 0 ? this.table.mtime(item) : DIR_TIME;
  }

  at(i: number): DatasetEntry {
    const item = this.items[i]!;
    return item >= 0 ? this.table.entry(item) : this.table.dirEntry(~item);
  }

  fileId(i: number, hash: (domain: string, relativePath: string) => string): string {
    return this.table.fileId(this.items[i]!, hash);
  }

  *[Symbol.iterator](): Generator<DatasetEntry> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }
}

/** Lists a table's live entries (leaving out encrypted-only ones unless `encrypted`) with their folders, sorted. */
export function listTable(table: FileTable, encrypted: boolean): EntryList {
  const slots: number[] = [];
  const dirsSeen = new Set<number>();
  for (const slot of table.liveSlots()) {
    if (table.encryptedOnly(slot) && !encrypted) continue;
    slots.push(slot);
    const domain = table.domainIdOf(slot);
    // Each ancestor folder, nearest first, until one is known (the path is not split: 1.36M entries).
    let dirPath = table.path(slot);
    do {
      const slash = dirPath.lastIndexOf('/');
      dirPath = slash < 0 ? '' : dirPath.slice(0, slash);
      const id = table.dirId(domain, dirPath);
      if (dirsSeen.has(id)) break;
      dirsSeen.add(id);
    } while (dirPath !== '');
  }
  const items = new Int32Array(slots.length + dirsSeen.size);
  items.set(slots);
  let n = slots.length;
  for (const id of dirsSeen) items[n++] = ~id;
  const rank = domainRanks(table.domains);
  const domainOf = (item: number): number => rank[item >= 0 ? table.domainIdOf(item) : table.dirDomainId(~item)]!;
  const pathOf = (item: number): string => (item >= 0 ? table.path(item) : table.dirPath(~item));
  items.sort((a, b) => {
    const da = domainOf(a);
    const db = domainOf(b);
    if (da !== db) return da - db;
    const pa = pathOf(a);
    const pb = pathOf(b);
    return pa < pb ? -1 : pa > pb ? 1 : 0;
  });
  return new EntryList(table, items);
}

/** Each domain id's place in the sorted domain names. */
function domainRanks(domains: readonly string[]): Int32Array {
  const order = domains.map((_, i) => i).sort((a, b) => (domains[a]! < domains[b]! ? -1 : domains[a]! > domains[b]! ? 1 : 0));
  const rank = new Int32Array(domains.length);
  order.forEach((id, place) => (rank[id] = place));
  return rank;
}
