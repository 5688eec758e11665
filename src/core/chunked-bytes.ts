import { concatBytes } from './bytes.ts';

/**
 * The first chunk's size; each next one is as big as all before it, up to MAX_CHUNK. Big chunks
 * because V8 runs a full garbage collection for every ≈64 MB of new ArrayBuffer memory: on the virtual
 * phone's big heap, 16 MiB chunks made receiving a 1.19 GB Manifest.db take 14 s, 256 MiB ones 8.8 s.
 * A chunk's unfilled tail is never touched, so it costs no resident memory.
 */
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 256 * 1024 * 1024;

/**
 * Bytes received as one long run, kept in a few big chunks: a 1.19 GB Manifest.db streamed in 32 KiB
 * blocks would otherwise be 36,000 small copies and then one more of the whole. Every chunk but the
 * last is a multiple of 64 KiB long, so no database page (64 KiB at most) straddles two chunks.
 */
export class ChunkedBytes {
  private readonly chunks: Uint8Array[] = [];
  private current: Uint8Array | undefined;
  private used = 0;
  private total = 0;

  get byteLength(): number {
    return this.total;
  }

  append(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.byteLength) {
      if (!this.current || this.used === this.current.byteLength) {
        this.current = new Uint8Array(Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, this.total)));
        this.chunks.push(this.current);
        this.used = 0;
      }
      const take = Math.min(bytes.byteLength - at, this.current.byteLength - this.used);
      this.current.set(bytes.subarray(at, at + take), this.used);
      this.used += take;
      at += take;
      this.total += take;
    }
  }

  /** The chunks holding the bytes, in order (the last one cut to its filled part). */
  parts(): Uint8Array[] {
    const parts = this.chunks.slice();
    if (this.current && parts.length > 0) parts[parts.length - 1] = this.current.subarray(0, this.used);
    return parts;
  }

  /** All the bytes in one array (a copy unless they fit one chunk). */
  bytes(): Uint8Array {
    const parts = this.parts();
    if (parts.length === 0) return new Uint8Array(0);
    return parts.length === 1 ? parts[0]! : concatBytes(parts);
  }
}

/** Bytes [start, end) of `parts` laid back to back: a view when they lie in one part, else a copy. */
export function readParts(parts: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const out: Uint8Array[] = [];
  let offset = 0;
  for (const part of parts) {
    const partEnd = offset + part.byteLength;
    if (partEnd > start && offset < end) out.push(part.subarray(Math.max(0, start - offset), Math.min(part.byteLength, end - offset)));
    if (partEnd >= end) break;
    offset = partEnd;
  }
  return out.length === 1 ? out[0]! : concatBytes(out);
}

/** Whether two runs of bytes, each laid back to back from its parts, are equal (however each is cut). */
export function samePartsBytes(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  const total = (parts: readonly Uint8Array[]): number => parts.reduce((n, part) => n + part.byteLength, 0);
  if (total(a) !== total(b)) return false;
  let ai = 0;
  let bi = 0;
  let aAt = 0;
  let bAt = 0;
  while (ai < a.length && bi < b.length) {
    const x = a[ai]!;
    const y = b[bi]!;
    const n = Math.min(x.byteLength - aAt, y.byteLength - bAt);
    if (!sameSpan(x, aAt, y, bAt, n)) return false;
    aAt += n;
    bAt += n;
    if (aAt === x.byteLength) (ai++, (aAt = 0));
    if (bAt === y.byteLength) (bi++, (bAt = 0));
  }
  return true;
}

/** x[xAt, xAt + n) equals y[yAt, yAt + n): four bytes at a time where both are aligned for it. */
function sameSpan(x: Uint8Array, xAt: number, y: Uint8Array, yAt: number, n: number): boolean {
  let i = 0;
  const xStart = x.byteOffset + xAt;
  const yStart = y.byteOffset + yAt;
  if (xStart % 4 === 0 && yStart % 4 === 0 && n >= 64) {
    const words = n >>> 2;
    const xw = new Int32Array(x.buffer, xStart, words);
    const yw = new Int32Array(y.buffer, yStart, words);
    for (let w = 0; w < words; w++) if (xw[w] !== yw[w]) return false;
    i = words * 4;
  }
  for (; i < n; i++) if (x[xAt + i] !== y[yAt + i]) return false;
  return true;
}
