import { crc32 } from '../../core/crc32.ts';
import { HEX_CODES } from '../../core/hex.ts';
import { DirNode, type Catalogue } from './catalogue.ts';

const HEADER = 8;
const encoder = new TextEncoder();

/**
 * The catalogue's snapshot frame, byte for byte what `encodeFrame(catalogue.toJSON())` makes, written
 * straight into one buffer. At 1.3M files toJSON's nested arrays and the 95 MB string JSON.stringify
 * builds from them were the backup worker's largest burst of JS heap; here payload names go from their
 * table bytes to ASCII and nothing per file is allocated.
 */
export function encodeSnapshotFrame(catalogue: Catalogue): Uint8Array {
  const out = new JsonBytes(HEADER + 64 + estimate(catalogue.root));
  out.ascii(`{"nextId":${JSON.stringify(catalogue.nextId)},"root":`);
  writeDir(out, catalogue.root);
  out.byte(0x7d); // }
  const frame = out.bytes.subarray(0, out.length);
  const payload = frame.subarray(HEADER);
  const view = new DataView(frame.buffer, frame.byteOffset, HEADER);
  view.setUint32(0, payload.byteLength, true);
  view.setUint32(4, crc32(payload), true);
  return frame;
}

/** Bytes the text will about take: 80 a payload file (name, quotes and five numbers), 64 anything else. */
function estimate(dir: DirNode): number {
  let n = 2;
  for (const [, child] of dir.children.named()) n += 64 + (child instanceof DirNode ? estimate(child) : 0);
  return n + dir.children.tableSize * 80;
}

function writeDir(out: JsonBytes, dir: DirNode): void {
  out.byte(0x5b); // [
  let first = true;
  const comma = (): void => {
    if (!first) out.byte(0x2c);
    first = false;
  };
  dir.children.forEachChild(
    (name, child) => {
      comma();
      out.byte(0x5b);
      out.text(JSON.stringify(name));
      out.byte(0x2c);
      if (child instanceof DirNode) writeDir(out, child);
      else out.fields(child.store, child.offset, child.size, child.mtime, child.blob);
      out.byte(0x5d);
    },
    (keys, at, store, offset, size, mtime, blob) => {
      comma();
      out.reserve(44);
      const b = out.bytes;
      let p = out.length;
      b[p++] = 0x5b;
      b[p++] = 0x22;
      for (let i = 0; i < 20; i++) {
        const k = keys[at + i]!;
        b[p++] = HEX_CODES[k >> 4]!;
        b[p++] = HEX_CODES[k & 15]!;
      }
      b[p++] = 0x22;
      b[p++] = 0x2c;
      out.length = p;
      out.fields(store, offset, size, mtime, blob);
      out.byte(0x5d);
    },
  );
  out.byte(0x5d); // ]
}

/** JSON text appended as UTF-8 into a growing buffer whose first bytes are left for the frame header. */
class JsonBytes {
  bytes: Uint8Array;
  length = HEADER;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  reserve(more: number): void {
    if (this.length + more <= this.bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(this.length + more, Math.ceil(this.bytes.byteLength * 1.5)));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }

  /** A string known to be ASCII. */
  ascii(s: string): void {
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.bytes[this.length++] = s.charCodeAt(i);
  }

  text(s: string): void {
    // UTF-8 needs at most three bytes per UTF-16 unit.
    this.reserve(s.length * 3);
    this.length += encoder.encodeInto(s, this.bytes.subarray(this.length)).written;
  }

  /** `store,offset,size,mtime,blob` (blob as 0 or 1), numbers as JSON.stringify writes them. */
  fields(store: number, offset: number, size: number, mtime: number, blob: boolean): void {
    this.number(store);
    this.byte(0x2c);
    this.number(offset);
    this.byte(0x2c);
    this.number(size);
    this.byte(0x2c);
    this.number(mtime);
    this.byte(0x2c);
    this.byte(blob ? 0x31 : 0x30);
  }

  private number(n: number): void {
    if (!(Number.isSafeInteger(n) && n >= 0)) {
      this.ascii(JSON.stringify(n));
      return;
    }
    this.reserve(16);
    if (n === 0) {
      this.bytes[this.length++] = 0x30;
      return;
    }
    let digits = 0;
    for (let m = n; m > 0; m = Math.floor(m / 10)) digits++;
    let p = this.length + digits;
    this.length = p;
    for (let m = n; m > 0; m = Math.floor(m / 10)) this.bytes[--p] = 0x30 + (m % 10);
  }
}
