import { hashOfKey, isHexName, keyInto, readHex } from '../hex-name-set.ts';
import { FileNode } from './file-node.ts';

/** Slot states besides a record number + 1. */
const EMPTY = 0;
const TOMBSTONE = -1;
/** Record flags. */
const LIVE = 1;
const BLOB = 2;

/**
 * The files of one folder whose names are 40 hex digits (backup payloads, named by their SHA-1
 * fileID), kept in typed arrays: the name as its 20 bytes, the extent as numbers. A 1.3M-file backup
 * keeps one per file for the whole session; as a Map of name strings to FileNode objects they cost
 * ≈165 bytes each of JS heap, which V8 then multiplies by its headroom. Here a file is a 49-byte
 * record (plus slack from growth) and 4–8 bytes of index, outside the JS heap.
 *
 * Open addressing over record numbers: SHA-1 names are spread evenly, so the first four key bytes
 * are the hash and linear probing stays short with the index at most half full.
 */
export class HexFileTable {
  /** EMPTY, TOMBSTONE, or the record number + 1. */
  private slots = new Int32Array(0);
  private filledSlots = 0; // used + tombstones
  private count = 0;
  private capacity = 0;
  /** Records, column by column. */
  private keys = new Uint8Array(0);
  private stores = new Uint32Array(0);
  private offsets = new Float64Array(0);
  private sizes = new Float64Array(0);
  private mtimes = new Float64Array(0);
  private flags = new Uint8Array(0);
  /** Record numbers below `capacity` that are free again (their file was deleted). */
  private free: number[] = [];
  /** Records handed out from the top so far (the rest of `capacity` is unused). */
  private top = 0;

  /** Whether this table can hold a file named `name`. */
  static fits(name: string): boolean {
    return isHexName(name);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of typed arrays this table holds (for memory figures). */
  get byteLength(): number {
    return this.slots.byteLength + this.capacity * (20 + 4 + 8 + 8 + 8 + 1);
  }

  has(name: string): boolean {
    return this.recordOf(name) >= 0;
  }

  /** A fresh FileNode for `name`'s record (a copy: changing it changes nothing here). */
  get(name: string): FileNode | undefined {
    const r = this.recordOf(name);
    return r < 0 ? undefined : this.node(r);
  }

  /** Adds or replaces the file `name` (which must fit). */
  set(name: string, file: FileNode): void {
    if (!keyInto(name, NAME_KEY)) throw new RangeError(`not a 40-hex-digit name: ${name}`);
    this.setRecord(NAME_KEY, 0, file.store, file.offset, file.size, file.mtime, file.blob);
  }

  /**
   * `set` for a name given as its 20 bytes at `key[at]` (as forEachRecord hands them out): reading a
   * snapshot adds 1.3M files, and building each name as a string only to take it apart again cost more
   * than the rest of the insert.
   */
  setRecord(key: Uint8Array, at: number, store: number, offset: number, size: number, mtime: number, blob: boolean): void {
    const slot = this.slots.length === 0 ? -1 : this.probeKey(key, at);
    let r = slot < 0 ? -1 : this.slots[slot]! - 1;
    if (r < 0) {
      r = this.allocate();
      for (let i = 0; i < 20; i++) this.keys[r * 20 + i] = key[at + i]!;
      this.insertSlot(hashOfKey(key, at), r);
      this.count++;
    }
    this.fill(r, store, offset, size, mtime, blob);
  }

  private fill(r: number, store: number, offset: number, size: number, mtime: number, blob: boolean): void {
    this.stores[r] = store;
    this.offsets[r] = offset;
    this.sizes[r] = size;
    this.mtimes[r] = mtime;
    this.flags[r] = LIVE | (blob ? BLOB : 0);
  }

  delete(name: string): boolean {
    const slot = this.slotOf(name);
    if (slot < 0) return false;
    const r = this.slots[slot]! - 1;
    this.slots[slot] = TOMBSTONE;
    this.flags[r] = 0;
    this.free.push(r);
    this.count--;
    return true;
  }

  clear(): void {
    this.slots = new Int32Array(0);
    this.filledSlots = 0;
    this.count = 0;
    this.capacity = 0;
    this.top = 0;
    this.free = [];
    this.grow(0);
  }

  /**
   * Calls `fn` with every file's name (its 20 bytes at `keys[at]`) and fields, building no object:
   * a snapshot walks 1.3M of them.
   */
  forEachRecord(fn: (keys: Uint8Array, at: number, store: number, offset: number, size: number, mtime: number, blob: boolean) => void): void {
    for (let r = 0; r < this.top; r++) {
      const f = this.flags[r]!;
      if (f & LIVE) fn(this.keys, r * 20, this.stores[r]!, this.offsets[r]!, this.sizes[r]!, this.mtimes[r]!, (f & BLOB) !== 0);
    }
  }

  /** Every file with its name, in record order (not insertion order once names were deleted). */
  *entries(): Generator<[string, FileNode]> {
    for (let r = 0; r < this.top; r++) if (this.flags[r]! & LIVE) yield [readHex(this.keys, r * 20), this.node(r)];
  }

  *values(): Generator<FileNode> {
    for (let r = 0; r < this.top; r++) if (this.flags[r]! & LIVE) yield this.node(r);
  }

  private node(r: number): FileNode {
    return new FileNode(this.stores[r]!, this.offsets[r]!, this.sizes[r]!, this.mtimes[r]!, (this.flags[r]! & BLOB) !== 0);
  }

  private recordOf(name: string): number {
    const slot = this.slotOf(name);
    return slot < 0 ? -1 : this.slots[slot]! - 1;
  }

  private slotOf(name: string): number {
    // One pass over the 40 digits checks and converts the name; the probe then compares bytes.
    if (this.slots.length === 0 || !keyInto(name, NAME_KEY)) return -1;
    return this.probeKey(NAME_KEY, 0);
  }

  /** The slot holding the name given as its 20 bytes at `key[at]`, or -1. */
  private probeKey(key: Uint8Array, at: number): number {
    const n = this.slots.length;
    for (let slot = hashOfKey(key, at) & (n - 1), probes = 0; probes < n; slot = (slot + 1) & (n - 1), probes++) {
      const s = this.slots[slot]!;
      if (s === EMPTY) return -1;
      if (s > 0 && sameKey(key, at, this.keys, (s - 1) * 20)) return slot;
    }
    return -1;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.top === this.capacity) this.grow(Math.max(16, Math.ceil(this.capacity * 1.5)));
    return this.top++;
  }

  /** Records grow by half: a folder of 5,000 files wastes at most a third of its records. */
  private grow(capacity: number): void {
    const widen = <T extends Uint8Array | Uint32Array | Float64Array>(old: T, make: (n: number) => T, per = 1): T => {
      const next = make(capacity * per);
      next.set(old.subarray(0, Math.min(old.length, capacity * per)));
      return next;
    };
    this.keys = widen(this.keys, (n) => new Uint8Array(n), 20);
    this.stores = widen(this.stores, (n) => new Uint32Array(n));
    this.offsets = widen(this.offsets, (n) => new Float64Array(n));
    this.sizes = widen(this.sizes, (n) => new Float64Array(n));
    this.mtimes = widen(this.mtimes, (n) => new Float64Array(n));
    this.flags = widen(this.flags, (n) => new Uint8Array(n));
    this.capacity = capacity;
  }

  private insertSlot(hash: number, record: number): void {
    if ((this.filledSlots + 1) * 2 > this.slots.length) this.rehash(this.count + 1);
    const n = this.slots.length;
    let slot = hash & (n - 1);
    while (this.slots[slot]! > 0) slot = (slot + 1) & (n - 1);
    if (this.slots[slot] === EMPTY) this.filledSlots++;
    this.slots[slot] = record + 1;
  }

  /** An index for `needed` names, at most half full (tombstones are dropped on the way). */
  private rehash(needed: number): void {
    let n = 16;
    while (n < needed * 2) n *= 2;
    const old = this.slots;
    this.slots = new Int32Array(n);
    this.filledSlots = 0;
    for (const s of old) {
      if (s <= 0) continue;
      let slot = hashOfKey(this.keys, (s - 1) * 20) & (n - 1);
      while (this.slots[slot] !== EMPTY) slot = (slot + 1) & (n - 1);
      this.slots[slot] = s;
      this.filledSlots++;
    }
  }
}

/** Where set/has/get/delete put the name they were given as its 20 bytes (keyInto). */
const NAME_KEY = new Uint8Array(20);

function sameKey(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number): boolean {
  for (let i = 0; i < 20; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}
