import { Catalogue, DirNode, FileNode, type DirChildren } from './catalogue.ts';
import { frameAt, parseFramePayload } from './frame.ts';

const decoder = new TextDecoder();

/** Thrown inside the parser at anything encodeSnapshotFrame does not write; never escapes this module. */
const GENERAL = new Error('not the layout encodeSnapshotFrame writes');

/** Deeper folders than this go through the general path (whose recursion is the same as before). */
const MAX_DEPTH = 512;

/**
 * A snapshot file's catalogue, or null when it holds no whole snapshot: exactly what
 * `Catalogue.fromJSON(decodeFrames(bytes).values[0])` gives when `decodeFrames` finds one value.
 * The text encodeSnapshotFrame writes is read straight from the bytes, payload names into their
 * folder's table as bytes; anything else (a snapshot another writer made, a number with a fraction)
 * goes through JSON.parse as before. At 1.3M files that was a 95 MB string and 1.3M small arrays on
 * the heap of whichever worker opened the store, the backup's or the Library's.
 */
export function decodeSnapshotFile(bytes: Uint8Array): Catalogue | null {
  const frame = frameAt(bytes, 0);
  if (!frame) return null;
  // decodeFrames would find two values, and a snapshot is one.
  const next = frameAt(bytes, frame.end);
  if (next && parseFramePayload(next.payload) !== undefined) return null;
  try {
    return new SnapshotParser(frame.payload).catalogue();
  } catch (error) {
    if (error !== GENERAL) throw error;
  }
  const value = parseFramePayload(frame.payload);
  return value === undefined ? null : Catalogue.fromJSON(value);
}

class SnapshotParser {
  private at = 0;
  /** The payload name being read, as its 20 bytes. */
  private readonly key = new Uint8Array(20);
  /** A file's five fields, as parsed. */
  private store = 0;
  private offset = 0;
  private size = 0;
  private mtime = 0;
  private blob = false;

  constructor(private readonly b: Uint8Array) {}

  catalogue(): Catalogue {
    this.ascii('{"nextId":');
    const nextId = this.number();
    this.ascii(',"root":');
    const catalogue = new Catalogue();
    catalogue.nextId = nextId;
    this.dir(catalogue.root, 0);
    this.byte(0x7d); // }
    if (this.at !== this.b.byteLength) throw GENERAL;
    return catalogue;
  }

  /** `[]` or `[entry,entry,…]`, each entry `["name",[…]]` (a folder) or `["name",store,offset,size,mtime,0|1]`. */
  private dir(node: DirNode, depth: number): void {
    if (depth > MAX_DEPTH) throw GENERAL;
    this.byte(0x5b);
    if (this.b[this.at] === 0x5d) {
      this.at++;
      return;
    }
    for (;;) {
      this.byte(0x5b);
      this.entry(node.children, depth);
      this.byte(0x5d);
      const c = this.b[this.at++];
      if (c === 0x5d) return;
      if (c !== 0x2c) throw GENERAL;
    }
  }

  private entry(children: DirChildren, depth: number): void {
    this.byte(0x22);
    const nameStart = this.at;
    if (this.payloadName() && this.b[this.at] === 0x22 && this.b[this.at + 1] === 0x2c && this.b[this.at + 2] !== 0x5b) {
      this.at += 2;
      this.fields();
      children.setRecord(this.key, 0, this.store, this.offset, this.size, this.mtime, this.blob);
      return;
    }
    this.at = nameStart; // a folder, or another name: read as a string
    const name = this.stringRest();
    this.byte(0x2c);
    if (this.b[this.at] === 0x5b) {
      const child = new DirNode();
      children.set(name, child);
      this.dir(child, depth + 1);
      return;
    }
    this.fields();
    children.set(name, new FileNode(this.store, this.offset, this.size, this.mtime, this.blob));
  }

  /** Reads 40 lowercase hex digits into `key` and moves past them; false (not moving) otherwise. */
  private payloadName(): boolean {
    const b = this.b;
    const start = this.at;
    if (start + 40 > b.byteLength) return false;
    for (let i = 0; i < 20; i++) {
      const hi = hexValue(b[start + 2 * i]!);
      const lo = hexValue(b[start + 2 * i + 1]!);
      if (hi < 0 || lo < 0) return false;
      this.key[i] = (hi << 4) | lo;
    }
    this.at = start + 40;
    return true;
  }

  /** A string's text after its opening quote, and past its closing one. */
  private stringRest(): string {
    const b = this.b;
    const start = this.at;
    let escaped = false;
    let i = start;
    for (; i < b.byteLength; i++) {
      const c = b[i]!;
      if (c === 0x22) break;
      if (c < 0x20) throw GENERAL; // JSON allows no raw control characters
      if (c === 0x5c) {
        escaped = true;
        i++;
      }
    }
    if (i >= b.byteLength) throw GENERAL;
    this.at = i + 1;
    if (!escaped) return decoder.decode(b.subarray(start, i));
    const value = parseFramePayload(b.subarray(start - 1, i + 1));
    if (typeof value !== 'string') throw GENERAL;
    return value;
  }

  private fields(): void {
    this.store = this.number();
    this.byte(0x2c);
    this.offset = this.number();
    this.byte(0x2c);
    this.size = this.number();
    this.byte(0x2c);
    this.mtime = this.number();
    this.byte(0x2c);
    const flag = this.b[this.at++];
    if (flag !== 0x30 && flag !== 0x31) throw GENERAL;
    this.blob = flag === 0x31;
  }

  /** An integer of at most 15 digits (exact in a double), optionally negative; anything else is general. */
  private number(): number {
    const b = this.b;
    let i = this.at;
    const negative = b[i] === 0x2d;
    if (negative) i++;
    const first = i;
    let n = 0;
    for (; i < b.byteLength && b[i]! >= 0x30 && b[i]! <= 0x39; i++) n = n * 10 + (b[i]! - 0x30);
    const digits = i - first;
    if (digits === 0 || digits > 15 || (digits > 1 && b[first] === 0x30)) throw GENERAL;
    const c = b[i];
    if (c === 0x2e || c === 0x65 || c === 0x45) throw GENERAL; // a fraction or exponent
    this.at = i;
    return negative ? -n : n;
  }

  private byte(expected: number): void {
    if (this.b[this.at] !== expected) throw GENERAL;
    this.at++;
  }

  private ascii(text: string): void {
    for (let i = 0; i < text.length; i++) this.byte(text.charCodeAt(i));
  }
}

function hexValue(c: number): number {
  return c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
}
