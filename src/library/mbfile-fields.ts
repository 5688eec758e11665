/**
 * Reads just `Size`, `Mode` and `LastModified` out of a Manifest.db `file` blob (a binary-plist NSKeyedArchiver
 * MBFile) without decoding the whole archive: the trailer, the offset table, `$top.root`, one
 * `$objects` element, and the root dictionary's keys. Summing sizes over a million rows with the
 * full decoder takes tens of seconds; this takes well under a microsecond a row.
 *
 * It works on any byte range (so callers can point it straight at SQLite's memory) and answers
 * `false` whenever the blob is anything but the plain shape — XML, UTF-16 keys, 128-bit integers,
 * nested references, anything out of range — so the caller can fall back to decodeMbFile and get
 * exactly what the full decoder would have said.
 */
export class MbFileFieldReader {
  size = 0;
  mode = 0;
  /** Unix seconds (0 when the blob has none); the diff compares it. */
  lastModified = 0;

  private bytes: Uint8Array = new Uint8Array(0);
  private base = 0;
  private offsetSize = 0;
  private refSize = 0;
  private count = 0;
  private tableStart = 0; // relative to base

  /** Reads bytes[start, start + length). True on success (then `size` and `mode` are set). */
  read(bytes: Uint8Array, start: number, length: number): boolean {
    if (length < 8 + 32 + 1 || start < 0 || start + length > bytes.length) return false;
    // "bplist0" then "0" or "1", as the full decoder accepts.
    if (
      bytes[start] !== 0x62 || bytes[start + 1] !== 0x70 || bytes[start + 2] !== 0x6c || bytes[start + 3] !== 0x69 ||
      bytes[start + 4] !== 0x73 || bytes[start + 5] !== 0x74 || bytes[start + 6] !== 0x30 ||
      (bytes[start + 7] !== 0x30 && bytes[start + 7] !== 0x31)
    ) {
      return false;
    }
    this.bytes = bytes;
    this.base = start;
    const t = start + length - 32;
    this.offsetSize = bytes[t + 6]!;
    this.refSize = bytes[t + 7]!;
    if (this.offsetSize < 1 || this.offsetSize > 4 || this.refSize < 1 || this.refSize > 4) return false;
    const count = this.u64(t + 8);
    const top = this.u64(t + 16);
    const tableStart = this.u64(t + 24);
    if (count < 1 || top < 0 || top >= count || tableStart < 8 || tableStart > length - 32) return false;
    if (count * this.offsetSize > length - 32 - tableStart) return false;
    this.count = count;
    this.tableStart = tableStart;

    const archive = this.offsetOf(top);
    if (archive < 0) return false;
    const topDict = this.dictValue(archive, '$top');
    const objects = this.dictValue(archive, '$objects');
    if (topDict < 0 || objects < 0) return false;
    const rootRef = this.dictValue(topDict, 'root');
    if (rootRef < 0) return false;
    const rootUid = this.uid(rootRef);
    if (rootUid < 0) return false;
    const root = this.arrayElement(objects, rootUid);
    if (root < 0 || bytes[root]! >> 4 !== 0xd) return false;

    this.size = 0;
    this.mode = 0;
    this.lastModified = 0;
    // Walk the root's keys once; the last duplicate wins, as in the full decoder.
    const n = this.lengthOf(root);
    if (n < 0) return false;
    const keysAt = this.payload;
    const valuesAt = keysAt + n * this.refSize;
    if (valuesAt + n * this.refSize > this.base + this.tableStart) return false;
    for (let i = 0; i < n; i++) {
      const key = this.offsetOf(this.refAt(keysAt + i * this.refSize));
      if (key < 0) return false;
      const which = this.keyIs(key);
      if (which === KEY_OTHER) continue;
      if (which === KEY_UNKNOWN) return false;
      const value = this.number(this.offsetOf(this.refAt(valuesAt + i * this.refSize)), objects);
      if (Number.isNaN(value)) return false;
      if (which === KEY_SIZE) this.size = value;
      else if (which === KEY_MODE) this.mode = value;
      else this.lastModified = value;
    }
    return true;
  }

  /** A 64-bit big-endian trailer field, or -1 beyond 2^32 (no blob is that large). */
  private u64(at: number): number {
    const b = this.bytes;
    if (b[at] || b[at + 1] || b[at + 2] || b[at + 3]) return -1;
    return ((b[at + 4]! << 24) >>> 0) + (b[at + 5]! << 16) + (b[at + 6]! << 8) + b[at + 7]!;
  }

  private uintAt(at: number, size: number): number {
    const b = this.bytes;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + b[at + i]!;
    return v;
  }

  /** Absolute offset of object `index`, or -1. */
  private offsetOf(index: number): number {
    if (index < 0 || index >= this.count) return -1;
    const offset = this.uintAt(this.base + this.tableStart + index * this.offsetSize, this.offsetSize);
    if (offset < 8 || offset >= this.tableStart) return -1;
    return this.base + offset;
  }

  private refAt(at: number): number {
    return this.uintAt(at, this.refSize);
  }

  /** Payload start of the last lengthOf() object (kept in a field: no tuple allocated per call). */
  private payload = 0;

  /** Count of an array/dict/string/data object, its payload start in `payload`; -1 if malformed. */
  private lengthOf(at: number): number {
    const low = this.bytes[at]! & 0x0f;
    if (low !== 0x0f) {
      this.payload = at + 1;
      return low;
    }
    const intMarker = this.bytes[at + 1]!;
    if ((intMarker & 0xf0) !== 0x10 || (intMarker & 0x0f) > 2) return -1;
    const size = 1 << (intMarker & 0x0f);
    if (at + 2 + size > this.base + this.tableStart) return -1;
    this.payload = at + 2 + size;
    return this.uintAt(at + 2, size);
  }

  /** Absolute offset of the value stored under ASCII `key` in the dict at `dict` (last wins), or -1. */
  private dictValue(dict: number, key: string): number {
    if (this.bytes[dict]! >> 4 !== 0xd) return -1;
    const n = this.lengthOf(dict);
    if (n < 0) return -1;
    const keysAt = this.payload;
    const valuesAt = keysAt + n * this.refSize;
    if (valuesAt + n * this.refSize > this.base + this.tableStart) return -1;
    let found = -1;
    for (let i = 0; i < n; i++) {
      const k = this.offsetOf(this.refAt(keysAt + i * this.refSize));
      if (k < 0) return -1;
      // Only ASCII-string keys are compared here; anything else goes to the full decoder.
      if (this.bytes[k]! >> 4 !== 0x5) return -1;
      if (this.asciiEquals(k, key)) found = this.offsetOf(this.refAt(valuesAt + i * this.refSize));
    }
    return found;
  }

  private asciiEquals(at: number, text: string): boolean {
    const n = this.lengthOf(at);
    const start = this.payload;
    if (n !== text.length || start + n > this.base + this.tableStart) return false;
    for (let i = 0; i < n; i++) if (this.bytes[start + i] !== text.charCodeAt(i)) return false;
    return true;
  }

  private keyIs(at: number): number {
    if (this.bytes[at]! >> 4 !== 0x5) return KEY_UNKNOWN;
    if (this.asciiEquals(at, 'Size')) return KEY_SIZE;
    if (this.asciiEquals(at, 'Mode')) return KEY_MODE;
    if (this.asciiEquals(at, 'LastModified')) return KEY_LAST_MODIFIED;
    return KEY_OTHER;
  }

  private uid(at: number): number {
    const marker = this.bytes[at]!;
    if (marker >> 4 !== 0x8) return -1;
    const size = (marker & 0x0f) + 1;
    if (size > 4 || at + 1 + size > this.base + this.tableStart) return -1;
    return this.uintAt(at + 1, size);
  }

  /** Absolute offset of `$objects[index]`, or -1. */
  private arrayElement(array: number, index: number): number {
    if (index < 0 || this.bytes[array]! >> 4 !== 0xa) return -1;
    const n = this.lengthOf(array);
    const at = this.payload;
    if (n < 0 || index >= n || at + n * this.refSize > this.base + this.tableStart) return -1;
    return this.offsetOf(this.refAt(at + index * this.refSize));
  }

  /**
   * The number at `at` as decodeMbFile's num() would see it: an integer or real inline, or one
   * reference to one; "$null" reads as 0. NaN means "not the plain shape: decode fully".
   */
  private number(at: number, objects: number, followed = false): number {
    if (at < 0) return NaN;
    const b = this.bytes;
    const marker = b[at]!;
    const end = this.base + this.tableStart;
    switch (marker) {
      case 0x10:
        return at + 2 <= end ? b[at + 1]! : NaN;
      case 0x11:
        return at + 3 <= end ? (b[at + 1]! << 8) | b[at + 2]! : NaN;
      case 0x12:
        return at + 5 <= end ? this.uintAt(at + 1, 4) : NaN;
      case 0x13: {
        if (at + 9 > end) return NaN;
        const high = (b[at + 1]! << 24) | (b[at + 2]! << 16) | (b[at + 3]! << 8) | b[at + 4]!; // signed
        if (high > 0x1fffff || high < -0x200000) return NaN; // beyond 2^53: leave it to the full decoder
        return high * 0x100000000 + this.uintAt(at + 5, 4);
      }
      case 0x22:
        return at + 5 <= end ? new DataView(b.buffer, b.byteOffset + at + 1, 4).getFloat32(0) : NaN;
      case 0x23:
        return at + 9 <= end ? new DataView(b.buffer, b.byteOffset + at + 1, 8).getFloat64(0) : NaN;
      default:
        break;
    }
    if (marker >> 4 === 0x8 && !followed) {
      const target = this.arrayElement(objects, this.uid(at));
      if (target < 0) return NaN;
      if (b[target]! >> 4 === 0x5 && this.asciiEquals(target, '$null')) return 0;
      return this.number(target, objects, true);
    }
    return NaN;
  }
}

const KEY_OTHER = 0;
const KEY_SIZE = 1;
const KEY_MODE = 2;
const KEY_UNKNOWN = 3;
const KEY_LAST_MODIFIED = 4;
