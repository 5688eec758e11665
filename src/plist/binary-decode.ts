import { PlistError } from './errors.ts';
import {
  APPLE_EPOCH_OFFSET_SECONDS,
  MAX_PLIST_DEPTH,
  PlistReal,
  PlistUid,
  type DecodeOptions,
  type PlistDict,
  type PlistValue,
} from './types.ts';

const TRAILER_SIZE = 32;
const HEADER_SIZE = 8;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/** True when the bytes start with the binary plist magic. */
export function isBinaryPlist(bytes: Uint8Array): boolean {
  return (
    bytes.byteLength >= HEADER_SIZE &&
    bytes[0] === 0x62 && bytes[1] === 0x70 && bytes[2] === 0x6c && bytes[3] === 0x69 &&
    bytes[4] === 0x73 && bytes[5] === 0x74
  );
}

/**
 * Decodes a `bplist00` document. Every count and offset is checked against the buffer before
 * anything is allocated, so hostile input fails fast with a PlistError instead of hanging or
 * exhausting memory.
 */
export function decodeBinaryPlist(bytes: Uint8Array, options: DecodeOptions = {}): PlistValue {
  // A plain view, so data objects sliced from a Node Buffer come out as Uint8Array copies, not Buffers.
  const plain = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return new BinaryPlistDecoder(plain, options.reals === 'wrap').decodeTop();
}

const enum State {
  Unvisited = 0,
  InProgress = 1,
  Done = 2,
}

class BinaryPlistDecoder {
  private readonly view: DataView;
  private readonly offsetSize: number;
  private readonly refSize: number;
  private readonly objectCount: number;
  private readonly topObject: number;
  private readonly offsetTableStart: number;
  private readonly state: Uint8Array;
  private readonly cache: PlistValue[];

  constructor(
    private readonly bytes: Uint8Array,
    private readonly wrapReals: boolean,
  ) {
    if (!isBinaryPlist(bytes) || bytes[6] !== 0x30 || (bytes[7] !== 0x30 && bytes[7] !== 0x31)) {
      throw new PlistError('not a bplist00 document');
    }
    if (bytes.byteLength < HEADER_SIZE + TRAILER_SIZE + 1) throw new PlistError('binary plist is truncated');
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const t = bytes.byteLength - TRAILER_SIZE;
    this.offsetSize = bytes[t + 6]!;
    this.refSize = bytes[t + 7]!;
    const count = this.view.getBigUint64(t + 8);
    const top = this.view.getBigUint64(t + 16);
    const tableStart = this.view.getBigUint64(t + 24);
    if (this.offsetSize < 1 || this.offsetSize > 8) throw new PlistError(`invalid offset size ${this.offsetSize}`);
    if (this.refSize < 1 || this.refSize > 8) throw new PlistError(`invalid object reference size ${this.refSize}`);
    // The offset table must sit between the header and the trailer and hold `count` entries.
    if (count < 1n || tableStart < BigInt(HEADER_SIZE) || tableStart > BigInt(t)) {
      throw new PlistError('binary plist trailer is out of range');
    }
    if (count * BigInt(this.offsetSize) > BigInt(t) - tableStart) {
      throw new PlistError('binary plist offset table is larger than the file');
    }
    if (top >= count) throw new PlistError('binary plist top object is out of range');
    this.objectCount = Number(count);
    this.topObject = Number(top);
    this.offsetTableStart = Number(tableStart);
    this.state = new Uint8Array(this.objectCount);
    this.cache = new Array<PlistValue>(this.objectCount);
  }

  decodeTop(): PlistValue {
    return this.object(this.topObject, 0);
  }

  private readUint(offset: number, size: number): number {
    const b = this.bytes;
    switch (size) {
      case 1:
        return b[offset]!;
      case 2:
        return this.view.getUint16(offset);
      case 4:
        return this.view.getUint32(offset);
      default: {
        let v = 0;
        for (let i = 0; i < size; i++) v = v * 256 + b[offset + i]!;
        if (v > Number.MAX_SAFE_INTEGER) throw new PlistError('offset or reference is out of range');
        return v;
      }
    }
  }

  private objectOffset(index: number): number {
    const offset = this.readUint(this.offsetTableStart + index * this.offsetSize, this.offsetSize);
    if (offset < HEADER_SIZE || offset >= this.offsetTableStart) {
      throw new PlistError(`object ${index} has an out-of-range offset ${offset}`);
    }
    return offset;
  }

  private object(index: number, depth: number): PlistValue {
    const state = this.state[index];
    if (state === State.Done) return this.cache[index]!;
    if (state === State.InProgress) throw new PlistError('binary plist contains a reference cycle');
    if (depth > MAX_PLIST_DEPTH) throw new PlistError(`nesting deeper than ${MAX_PLIST_DEPTH} levels`);
    this.state[index] = State.InProgress;
    const value = this.parseAt(this.objectOffset(index), depth);
    this.cache[index] = value;
    this.state[index] = State.Done;
    return value;
  }

  /** Throws unless [start, start+length) lies inside the object area. */
  private need(start: number, length: number): void {
    if (length < 0 || start + length > this.offsetTableStart) throw new PlistError('object runs past the end of the data');
  }

  /** Returns [count, offset of the payload] for markers with a 4-bit or trailing-int length. */
  private length(marker: number, offset: number): [number, number] {
    const low = marker & 0x0f;
    if (low !== 0x0f) return [low, offset + 1];
    this.need(offset + 1, 1);
    const intMarker = this.bytes[offset + 1]!;
    if ((intMarker & 0xf0) !== 0x10) throw new PlistError('invalid length marker');
    const size = 1 << (intMarker & 0x0f);
    if (size > 8) throw new PlistError('invalid length size');
    this.need(offset + 2, size);
    return [this.readUint(offset + 2, size), offset + 2 + size];
  }

  private parseAt(offset: number, depth: number): PlistValue {
    this.need(offset, 1);
    const marker = this.bytes[offset]!;
    const kind = marker >> 4;
    const low = marker & 0x0f;
    switch (kind) {
      case 0x0:
        if (marker === 0x08) return false;
        if (marker === 0x09) return true;
        throw new PlistError(`unsupported object marker 0x${marker.toString(16).padStart(2, '0')}`);
      case 0x1:
        return this.integer(offset + 1, low);
      case 0x2: {
        if (low === 2) {
          this.need(offset + 1, 4);
          const v = this.view.getFloat32(offset + 1);
          return this.wrapReals ? new PlistReal(v) : v;
        }
        if (low === 3) {
          this.need(offset + 1, 8);
          const v = this.view.getFloat64(offset + 1);
          return this.wrapReals ? new PlistReal(v) : v;
        }
        throw new PlistError(`unsupported real size ${1 << low}`);
      }
      case 0x3: {
        if (marker !== 0x33) throw new PlistError('invalid date marker');
        this.need(offset + 1, 8);
        const seconds = this.view.getFloat64(offset + 1);
        // Date truncates toward zero; rounding keeps 0.9999 ms float error from losing a millisecond.
        return new Date(Math.round((seconds + APPLE_EPOCH_OFFSET_SECONDS) * 1000));
      }
      case 0x4: {
        const [n, start] = this.length(marker, offset);
        this.need(start, n);
        return this.bytes.slice(start, start + n);
      }
      case 0x5: {
        const [n, start] = this.length(marker, offset);
        this.need(start, n);
        return latin1(this.bytes, start, n);
      }
      case 0x6: {
        const [n, start] = this.length(marker, offset);
        this.need(start, n * 2);
        return utf16be(this.bytes, start, n);
      }
      case 0x7: {
        // UTF-8 strings appear in newer CoreFoundation output ("bplist 1.5"); harmless to accept.
        const [n, start] = this.length(marker, offset);
        this.need(start, n);
        return utf8Decoder.decode(this.bytes.subarray(start, start + n));
      }
      case 0x8: {
        const size = low + 1;
        this.need(offset + 1, size);
        return new PlistUid(this.readUint(offset + 1, size));
      }
      case 0xa:
      case 0xb:
      case 0xc: {
        const [n, start] = this.length(marker, offset);
        this.need(start, n * this.refSize);
        const out = new Array<PlistValue>(n);
        for (let i = 0; i < n; i++) out[i] = this.object(this.ref(start + i * this.refSize), depth + 1);
        return out;
      }
      case 0xd: {
        const [n, start] = this.length(marker, offset);
        this.need(start, 2 * n * this.refSize);
        const dict: PlistDict = {};
        const valuesStart = start + n * this.refSize;
        for (let i = 0; i < n; i++) {
          const key = this.object(this.ref(start + i * this.refSize), depth + 1);
          if (typeof key !== 'string') throw new PlistError('dictionary key is not a string');
          const value = this.object(this.ref(valuesStart + i * this.refSize), depth + 1);
          setEntry(dict, key, value);
        }
        return dict;
      }
      default:
        throw new PlistError(`unsupported object marker 0x${marker.toString(16).padStart(2, '0')}`);
    }
  }

  private ref(at: number): number {
    const index = this.readUint(at, this.refSize);
    if (index >= this.objectCount) throw new PlistError(`object reference ${index} is out of range`);
    return index;
  }

  private integer(start: number, low: number): number | bigint {
    if (low > 4) throw new PlistError(`unsupported integer size ${1 << low}`);
    const size = 1 << low;
    this.need(start, size);
    switch (size) {
      case 1:
        return this.bytes[start]!;
      case 2:
        return this.view.getUint16(start);
      case 4:
        return this.view.getUint32(start);
      case 8:
        return narrow(this.view.getBigInt64(start));
      default: {
        // The 16-byte form is a signed 128-bit integer; plistlib and libplist use it for 2^63 ≤ n < 2^64.
        const high = this.view.getBigInt64(start);
        const lowPart = this.view.getBigUint64(start + 8);
        return narrow((high << 64n) | lowPart);
      }
    }
  }
}

/** A decoded integer as a number when it is exactly one, else the bigint. */
export function narrow(v: bigint): number | bigint {
  return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
}

/** Assigns without tripping the `__proto__` setter, so a key named that stays an ordinary entry. */
export function setEntry(dict: PlistDict, key: string, value: PlistValue): void {
  if (key === '__proto__') {
    Object.defineProperty(dict, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    dict[key] = value;
  }
}

const utf8Decoder = new TextDecoder('utf-8');
const CHUNK = 8192;

function latin1(bytes: Uint8Array, start: number, n: number): string {
  if (n <= 16) {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(bytes[start + i]!);
    return s;
  }
  const parts: string[] = [];
  for (let i = 0; i < n; i += CHUNK) {
    const sub = bytes.subarray(start + i, start + Math.min(n, i + CHUNK));
    parts.push(String.fromCharCode.apply(null, sub as unknown as number[]));
  }
  return parts.length === 1 ? parts[0]! : parts.join('');
}

function utf16be(bytes: Uint8Array, start: number, n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i += CHUNK) {
    const m = Math.min(CHUNK, n - i);
    const units = new Uint16Array(m);
    let p = start + i * 2;
    for (let j = 0; j < m; j++, p += 2) units[j] = (bytes[p]! << 8) | bytes[p + 1]!;
    parts.push(String.fromCharCode.apply(null, units as unknown as number[]));
  }
  return parts.length === 1 ? parts[0]! : parts.join('');
}
