import { ByteWriter } from './byte-writer.ts';
import { PlistError } from './errors.ts';
import {
  APPLE_EPOCH_OFFSET_SECONDS,
  MAX_PLIST_DEPTH,
  PlistReal,
  PlistUid,
  type PlistDict,
  type PlistValue,
} from './types.ts';

const MIN_INT64 = -(1n << 63n);
const MAX_UINT64 = (1n << 64n) - 1n;
const TWO_63 = 1n << 63n;
/** Marks a container whose children are being added, so reaching it again means a cycle. */
const IN_PROGRESS = -1;

/** One flattened object: a scalar, or a container whose children are object indices. */
type Entry =
  | { kind: 'scalar'; value: Exclude<PlistValue, PlistValue[] | PlistDict> }
  | { kind: 'array'; refs: number[] }
  | { kind: 'dict'; keys: number[]; values: number[] };

/**
 * Encodes a value as `bplist00`. Identical strings are stored once, and an object reached twice
 * (a decoded DAG) is stored once; a cycle is an error. Offset and reference widths are the
 * smallest of 1/2/4/8 bytes that fit, as CoreFoundation writes them.
 */
export function encodeBinaryPlist(value: PlistValue): Uint8Array {
  const flattener = new Flattener();
  const top = flattener.add(value, 0);
  return serialize(flattener.entries, top);
}

class Flattener {
  readonly entries: Entry[] = [];
  private readonly strings = new Map<string, number>();
  private readonly seen = new Map<object, number>();

  add(value: PlistValue, depth: number): number {
    if (typeof value === 'string') {
      const known = this.strings.get(value);
      if (known !== undefined) return known;
      const index = this.push({ kind: 'scalar', value });
      this.strings.set(value, index);
      return index;
    }
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
        return this.push({ kind: 'scalar', value });
      }
      throw new PlistError(`cannot encode a value of type ${value === null ? 'null' : typeof value}`);
    }
    if (value instanceof Uint8Array || value instanceof Date || value instanceof PlistUid || value instanceof PlistReal) {
      return this.push({ kind: 'scalar', value });
    }
    const known = this.seen.get(value);
    if (known !== undefined) {
      if (known === IN_PROGRESS) throw new PlistError('cannot encode a value that contains itself');
      return known;
    }
    if (depth > MAX_PLIST_DEPTH) throw new PlistError(`nesting deeper than ${MAX_PLIST_DEPTH} levels`);
    this.seen.set(value, IN_PROGRESS);
    let index: number;
    if (Array.isArray(value)) {
      const entry: Entry = { kind: 'array', refs: [] };
      index = this.push(entry);
      for (const item of value) entry.refs.push(this.add(item, depth + 1));
    } else {
      const entry: Entry = { kind: 'dict', keys: [], values: [] };
      index = this.push(entry);
      const dict = value as PlistDict;
      for (const key of Object.keys(dict)) {
        const item = dict[key];
        if (item === undefined) continue;
        entry.keys.push(this.add(key, depth + 1));
        entry.values.push(this.add(item, depth + 1));
      }
    }
    this.seen.set(value, index);
    return index;
  }

  private push(entry: Entry): number {
    return this.entries.push(entry) - 1;
  }
}

function sizeFor(max: number): number {
  if (max < 0x100) return 1;
  if (max < 0x10000) return 2;
  if (max < 0x100000000) return 4;
  return 8;
}

function serialize(entries: Entry[], top: number): Uint8Array {
  const refSize = sizeFor(entries.length - 1);
  const w = new ByteWriter(Math.max(1024, entries.length * 16));
  const at = w.reserve(8);
  w.bytes.set([0x62, 0x70, 0x6c, 0x69, 0x73, 0x74, 0x30, 0x30], at);
  const offsets = new Float64Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    offsets[i] = w.length;
    const entry = entries[i]!;
    if (entry.kind === 'array') {
      writeMarker(w, 0xa0, entry.refs.length);
      for (const r of entry.refs) w.uint(r, refSize);
    } else if (entry.kind === 'dict') {
      writeMarker(w, 0xd0, entry.keys.length);
      for (const r of entry.keys) w.uint(r, refSize);
      for (const r of entry.values) w.uint(r, refSize);
    } else {
      writeScalar(w, entry.value);
    }
  }
  const tableStart = w.length;
  const offsetSize = sizeFor(tableStart);
  for (let i = 0; i < offsets.length; i++) w.uint(offsets[i]!, offsetSize);
  const t = w.reserve(32);
  const b = w.bytes;
  b.fill(0, t, t + 32);
  b[t + 6] = offsetSize;
  b[t + 7] = refSize;
  const view = w.dataView;
  view.setBigUint64(t + 8, BigInt(entries.length));
  view.setBigUint64(t + 16, BigInt(top));
  view.setBigUint64(t + 24, BigInt(tableStart));
  return w.result();
}

function writeMarker(w: ByteWriter, marker: number, count: number): void {
  if (count < 15) {
    w.u8(marker | count);
  } else {
    w.u8(marker | 0x0f);
    writeUnsigned(w, count);
  }
}

function writeUnsigned(w: ByteWriter, n: number): void {
  if (n < 0x100) {
    w.u8(0x10);
    w.uint(n, 1);
  } else if (n < 0x10000) {
    w.u8(0x11);
    w.uint(n, 2);
  } else if (n < 0x100000000) {
    w.u8(0x12);
    w.uint(n, 4);
  } else {
    w.u8(0x13);
    w.uint(n, 8);
  }
}

function writeInteger(w: ByteWriter, v: number | bigint): void {
  if (typeof v === 'number') {
    if (v >= 0) {
      writeUnsigned(w, v);
      return;
    }
    v = BigInt(v);
  }
  if (v < MIN_INT64 || v > MAX_UINT64) throw new PlistError(`integer ${v} does not fit in 64 bits`);
  if (v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
    writeUnsigned(w, Number(v));
  } else if (v >= TWO_63) {
    w.u8(0x14);
    const at = w.reserve(16);
    w.dataView.setBigUint64(at, 0n);
    w.dataView.setBigUint64(at + 8, v);
  } else {
    w.u8(0x13);
    const at = w.reserve(8);
    w.dataView.setBigInt64(at, v);
  }
}

function writeReal(w: ByteWriter, v: number): void {
  w.u8(0x23);
  const at = w.reserve(8);
  w.dataView.setFloat64(at, v);
}

function writeString(w: ByteWriter, s: string): void {
  const n = s.length;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    writeMarker(w, 0x50, n);
    const at = w.reserve(n);
    const b = w.bytes;
    for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
  } else {
    // UTF-16BE code units, so lone surrogates survive exactly as CoreFoundation stores them.
    writeMarker(w, 0x60, n);
    const at = w.reserve(n * 2);
    const b = w.bytes;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      b[at + 2 * i] = c >> 8;
      b[at + 2 * i + 1] = c & 0xff;
    }
  }
}

function writeScalar(w: ByteWriter, v: Exclude<PlistValue, PlistValue[] | PlistDict>): void {
  if (typeof v === 'string') return writeString(w, v);
  if (typeof v === 'boolean') return w.u8(v ? 0x09 : 0x08);
  if (typeof v === 'bigint') return writeInteger(w, v);
  // Whole numbers beyond 2^53 are not exact integers any more, so they stay reals.
  if (typeof v === 'number') return Number.isSafeInteger(v) ? writeInteger(w, v) : writeReal(w, v);
  if (v instanceof PlistReal) return writeReal(w, v.value);
  if (v instanceof Uint8Array) {
    writeMarker(w, 0x40, v.byteLength);
    return w.append(v);
  }
  if (v instanceof Date) {
    const ms = v.getTime();
    if (Number.isNaN(ms)) throw new PlistError('cannot encode an invalid Date');
    w.u8(0x33);
    const at = w.reserve(8);
    w.dataView.setFloat64(at, ms / 1000 - APPLE_EPOCH_OFFSET_SECONDS);
    return;
  }
  if (v instanceof PlistUid) {
    const n = v.value;
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new PlistError(`UID ${n} is out of range`);
    const size = n < 0x100 ? 1 : n < 0x10000 ? 2 : 4;
    w.u8(0x80 | (size - 1));
    w.uint(n, size);
    return;
  }
  throw new PlistError('cannot encode this value');
}
