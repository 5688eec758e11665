import { narrow, setEntry } from '../../../plist/binary-decode.ts';
import { MAX_PLIST_DEPTH, type PlistDict, type PlistValue } from '../../../plist/index.ts';

/**
 * Reads one Manifest.db MBFile blob the quick way: checks the whole bplist00 object graph as the
 * general decoder would (markers, bounds, references, cycles, depth, string keys) without building
 * it, then takes the MBFile's fields straight from the bytes. An incremental backup of a 1.3M-file
 * phone reads every row of the host's previous Manifest.db, and building each blob's whole tree (top
 * dictionary, $objects, class entries) before unarchiving it was most of that read.
 *
 * Returns exactly what `unarchive(decodePlist(blob))` returns, or undefined when the blob is anything
 * but a plainly archived MBFile (a marker, class or layout this reader does not take): the caller then
 * decodes it the general way, which also gives any error.
 */
export function readMbFile(blob: Uint8Array): PlistDict | undefined {
  try {
    return reader.read(blob);
  } catch (error) {
    if (error === GIVE_UP) return undefined;
    throw error;
  }
}

/** Thrown inside the reader when the blob needs the general decoder; never escapes readMbFile. */
const GIVE_UP = new Error('not a plain MBFile archive');

const TRAILER_SIZE = 32;
const HEADER_SIZE = 8;
const UNVISITED = 0;
const IN_PROGRESS = 1;
const DONE = 2;
const KEY_SLOTS = 1024;
const KIND_INT = 0x1;
const KIND_DATA = 0x4;
const KIND_ASCII = 0x5;
const KIND_UTF16 = 0x6;
const KIND_UID = 0x8;
const KIND_ARRAY = 0xa;
const KIND_DICT = 0xd;

/**
 * One reader, reused: its per-object tables (kind, count, payload start, and each key's text) grow to
 * the biggest blob seen instead of being allocated for each of 1.3M rows. Reading is synchronous, so
 * nothing else can use it meanwhile.
 */
class MbFileReader {
  private bytes: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.bytes.buffer);
  private offsetSize = 0;
  private refSize = 0;
  private objectCount = 0;
  private tableStart = 0;
  private kinds = new Uint8Array(0);
  private lows = new Uint8Array(0);
  private counts = new Int32Array(0);
  private starts = new Int32Array(0);
  private state = new Uint8Array(0);
  /** The text of each string object used as a dictionary key. */
  private keyText: string[] = [];
  /** Key texts seen before, by length and first and last code unit: 25 keys a blob need not be new strings each time. */
  private readonly knownKeys = new Array<string | undefined>(KEY_SLOTS);

  read(blob: Uint8Array): PlistDict {
    this.open(blob);
    const top = this.topObject();
    // The general decoder builds every object the top one reaches and fails on any of them; so must this.
    this.check(top, 0);
    this.needDict(top);
    const objects = this.lookup(top, '$objects');
    if (this.kinds[objects] !== KIND_ARRAY) throw GIVE_UP;
    const topDict = this.lookup(top, '$top');
    this.needDict(topDict);
    let rootRef: number;
    if (this.has(topDict, 'root')) rootRef = this.lookup(topDict, 'root');
    else if (this.counts[topDict] === 1) rootRef = this.dictValue(topDict, 0);
    else throw GIVE_UP;
    const file = this.objectAt(objects, this.uid(rootRef));
    this.needDict(file);
    const className = this.className(objects, this.lookup(file, '$class'));
    if (className !== 'MBFile') throw GIVE_UP;
    const out: PlistDict = {};
    const count = this.counts[file]!;
    for (let i = 0; i < count; i++) {
      const key = this.keyText[this.dictKey(file, i)]!;
      if (key === '$class') continue;
      const value = this.field(objects, this.dictValue(file, i));
      if (value !== undefined) setEntry(out, key, value);
    }
    out['$class'] = className;
    return out;
  }

  /** Takes a blob's trailer: the general decoder's checks, and only the sizes a small blob has. */
  private open(blob: Uint8Array): void {
    // A plain view, so data sliced from a Node Buffer comes out as a copy, as the general decoder's does.
    const b = blob.constructor === Uint8Array ? blob : new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength);
    if (b.byteLength < HEADER_SIZE + TRAILER_SIZE + 1) throw GIVE_UP;
    if (b[0] !== 0x62 || b[1] !== 0x70 || b[2] !== 0x6c || b[3] !== 0x69 || b[4] !== 0x73 || b[5] !== 0x74 || b[6] !== 0x30 || (b[7] !== 0x30 && b[7] !== 0x31)) throw GIVE_UP;
    this.bytes = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const t = b.byteLength - TRAILER_SIZE;
    this.offsetSize = b[t + 6]!;
    this.refSize = b[t + 7]!;
    if (this.offsetSize < 1 || this.offsetSize > 4 || this.refSize < 1 || this.refSize > 4) throw GIVE_UP;
    if (this.view.getUint32(t + 8) !== 0 || this.view.getUint32(t + 16) !== 0 || this.view.getUint32(t + 24) !== 0) throw GIVE_UP;
    this.objectCount = this.view.getUint32(t + 12);
    this.tableStart = this.view.getUint32(t + 28);
    if (this.objectCount < 1 || this.tableStart < HEADER_SIZE || this.tableStart > t) throw GIVE_UP;
    if (this.objectCount * this.offsetSize > t - this.tableStart) throw GIVE_UP;
    if (this.state.length < this.objectCount) this.grow(this.objectCount);
    this.state.fill(UNVISITED, 0, this.objectCount);
  }

  private topObject(): number {
    const top = this.view.getUint32(this.bytes.byteLength - TRAILER_SIZE + 20);
    if (top >= this.objectCount) throw GIVE_UP;
    return top;
  }

  private grow(n: number): void {
    const size = Math.max(n, 2 * this.state.length, 64);
    this.kinds = new Uint8Array(size);
    this.lows = new Uint8Array(size);
    this.counts = new Int32Array(size);
    this.starts = new Int32Array(size);
    this.state = new Uint8Array(size);
    this.keyText = new Array<string>(size).fill('');
  }

  /** An MBFile field: an inline integer or data, or a reference to a string, data, an integer, an NSData or $null. */
  private field(objects: number, index: number): PlistValue | undefined {
    const kind = this.kinds[index];
    if (kind === KIND_INT) return this.integer(index);
    if (kind === KIND_DATA) return this.data(index);
    if (kind !== KIND_UID) throw GIVE_UP;
    const target = this.objectAt(objects, this.uid(index));
    switch (this.kinds[target]) {
      case KIND_INT:
        return this.integer(target);
      case KIND_DATA:
        return this.data(target);
      case KIND_ASCII:
      case KIND_UTF16: {
        const text = this.text(target);
        return text === '$null' ? undefined : text;
      }
      case KIND_DICT:
        break;
      default:
        throw GIVE_UP;
    }
    const className = this.className(objects, this.lookup(target, '$class'));
    if (className !== 'NSMutableData' && className !== 'NSData') throw GIVE_UP;
    if (!this.has(target, 'NS.data')) return new Uint8Array(0);
    let data = this.lookup(target, 'NS.data');
    if (this.kinds[data] === KIND_UID) data = this.objectAt(objects, this.uid(data));
    if (this.kinds[data] !== KIND_DATA) throw GIVE_UP;
    return this.data(data);
  }

  private className(objects: number, classRef: number): string {
    const cls = this.objectAt(objects, this.uid(classRef));
    this.needDict(cls);
    const name = this.lookup(cls, '$classname');
    if (this.kinds[name] !== KIND_ASCII && this.kinds[name] !== KIND_UTF16) throw GIVE_UP;
    return this.text(name);
  }

  /**
   * Walks the object graph the way the general decoder does, failing where it would; notes each
   * object's kind, count and payload start, and each key's text. A dictionary's keys must be distinct
   * (the general decoder keeps the last of equal ones; this reader gives those up).
   */
  private check(index: number, depth: number): void {
    const state = this.state[index];
    if (state === DONE) return;
    if (state === IN_PROGRESS || depth > MAX_PLIST_DEPTH) throw GIVE_UP;
    this.state[index] = IN_PROGRESS;
    this.span(index);
    const kind = this.kinds[index]!;
    const low = this.lows[index]!;
    const count = this.counts[index]!;
    const start = this.starts[index]!;
    switch (kind) {
      case 0x0:
        if (low !== 0x8 && low !== 0x9) throw GIVE_UP;
        break;
      case KIND_INT:
        if (low > 3) throw GIVE_UP;
        this.need(start, 1 << low);
        break;
      case KIND_DATA:
      case KIND_ASCII:
        this.need(start, count);
        break;
      case KIND_UTF16:
        this.need(start, count * 2);
        break;
      case KIND_UID:
        if (low > 3) throw GIVE_UP;
        this.need(start, low + 1);
        break;
      case KIND_ARRAY:
        this.need(start, count * this.refSize);
        for (let i = 0; i < count; i++) this.check(this.ref(start + i * this.refSize), depth + 1);
        break;
      case KIND_DICT:
        this.need(start, 2 * count * this.refSize);
        for (let i = 0; i < count; i++) {
          const key = this.ref(start + i * this.refSize);
          this.check(key, depth + 1);
          if (this.kinds[key] !== KIND_ASCII && this.kinds[key] !== KIND_UTF16) throw GIVE_UP;
          const text = this.keyOf(key);
          for (let j = 0; j < i; j++) if (this.keyText[this.ref(start + j * this.refSize)] === text) throw GIVE_UP;
          this.check(this.ref(start + (count + i) * this.refSize), depth + 1);
        }
        break;
      default:
        // Reals, dates, UTF-8 strings, sets: valid, but never in an MBFile this device writes.
        throw GIVE_UP;
    }
    this.state[index] = DONE;
  }

  private needDict(index: number): void {
    if (this.kinds[index] !== KIND_DICT) throw GIVE_UP;
  }

  private dictKey(dict: number, i: number): number {
    return this.ref(this.starts[dict]! + i * this.refSize);
  }

  private dictValue(dict: number, i: number): number {
    return this.ref(this.starts[dict]! + (this.counts[dict]! + i) * this.refSize);
  }

  private has(dict: number, key: string): boolean {
    const count = this.counts[dict]!;
    for (let i = 0; i < count; i++) if (this.keyText[this.dictKey(dict, i)] === key) return true;
    return false;
  }

  /** The object index of a key's value in a dictionary. */
  private lookup(dict: number, key: string): number {
    const count = this.counts[dict]!;
    for (let i = 0; i < count; i++) if (this.keyText[this.dictKey(dict, i)] === key) return this.dictValue(dict, i);
    throw GIVE_UP;
  }

  /** `$objects[n]` for a UID n, as the unarchiver resolves it. */
  private objectAt(objects: number, n: number): number {
    if (n >= this.counts[objects]!) throw GIVE_UP;
    return this.ref(this.starts[objects]! + n * this.refSize);
  }

  private uid(index: number): number {
    if (this.kinds[index] !== KIND_UID) throw GIVE_UP;
    return this.uint(this.starts[index]!, this.lows[index]! + 1);
  }

  private integer(index: number): number | bigint {
    const start = this.starts[index]!;
    switch (this.lows[index]) {
      case 0:
        return this.bytes[start]!;
      case 1:
        return this.view.getUint16(start);
      case 2:
        return this.view.getUint32(start);
      case 3:
        return narrow(this.view.getBigInt64(start));
      default:
        throw GIVE_UP;
    }
  }

  private data(index: number): Uint8Array {
    const start = this.starts[index]!;
    return this.bytes.slice(start, start + this.counts[index]!);
  }

  /** A key's text, the same string as last time when the same key comes again. */
  private keyOf(index: number): string {
    const start = this.starts[index]!;
    const count = this.counts[index]!;
    // Keys are told apart by length, first and last code unit; sameText settles it.
    const slot = count === 0 ? 0 : (count * 961 + this.unit(index, start, 0) * 31 + this.unit(index, start, count - 1)) & (KEY_SLOTS - 1);
    let text = this.knownKeys[slot];
    if (text === undefined || !this.sameText(index, text)) {
      text = this.text(index);
      this.knownKeys[slot] = text;
    }
    this.keyText[index] = text;
    return text;
  }

  private unit(index: number, start: number, i: number): number {
    return this.kinds[index] === KIND_UTF16 ? this.view.getUint16(start + 2 * i) : this.bytes[start + i]!;
  }

  private sameText(index: number, text: string): boolean {
    const start = this.starts[index]!;
    const count = this.counts[index]!;
    if (text.length !== count) return false;
    const wide = this.kinds[index] === KIND_UTF16;
    for (let i = 0; i < count; i++) if (text.charCodeAt(i) !== (wide ? this.view.getUint16(start + 2 * i) : this.bytes[start + i]!)) return false;
    return true;
  }

  private text(index: number): string {
    const start = this.starts[index]!;
    const count = this.counts[index]!;
    if (this.kinds[index] === KIND_ASCII) {
      if (count > 16) return String.fromCharCode.apply(null, this.bytes.subarray(start, start + count) as unknown as number[]);
      let s = '';
      for (let i = 0; i < count; i++) s += String.fromCharCode(this.bytes[start + i]!);
      return s;
    }
    const units = new Uint16Array(count);
    for (let i = 0; i < count; i++) units[i] = this.view.getUint16(start + 2 * i);
    return String.fromCharCode.apply(null, units as unknown as number[]);
  }

  /** Notes an object's kind, low marker bits, count and payload start. */
  private span(index: number): void {
    const offset = this.uint(this.tableStart + index * this.offsetSize, this.offsetSize);
    if (offset < HEADER_SIZE || offset >= this.tableStart) throw GIVE_UP;
    const marker = this.bytes[offset]!;
    const kind = marker >> 4;
    const low = marker & 0x0f;
    this.kinds[index] = kind;
    this.lows[index] = low;
    this.counts[index] = low;
    this.starts[index] = offset + 1;
    const counted = kind === KIND_DATA || kind === KIND_ASCII || kind === KIND_UTF16 || kind === KIND_ARRAY || kind === KIND_DICT;
    if (!counted || low !== 0x0f) return;
    this.need(offset + 1, 1);
    const intMarker = this.bytes[offset + 1]!;
    // Counts of up to two bytes: a blob is a few hundred bytes, and Int32Array holds them exactly.
    if (intMarker >> 4 !== 0x1 || (intMarker & 0x0f) > 1) throw GIVE_UP;
    const size = 1 << (intMarker & 0x0f);
    this.need(offset + 2, size);
    this.counts[index] = this.uint(offset + 2, size);
    this.starts[index] = offset + 2 + size;
  }

  private ref(at: number): number {
    const index = this.uint(at, this.refSize);
    if (index >= this.objectCount) throw GIVE_UP;
    return index;
  }

  private uint(at: number, size: number): number {
    const b = this.bytes;
    if (at + size > b.byteLength) throw GIVE_UP;
    if (size === 1) return b[at]!;
    if (size === 2) return (b[at]! << 8) | b[at + 1]!;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + b[at + i]!;
    return v;
  }

  /** [start, start + length) must lie in the object area, before the offset table. */
  private need(start: number, length: number): void {
    if (start + length > this.tableStart) throw GIVE_UP;
  }
}

const reader = new MbFileReader();
