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
    if (bytes.byteLength === 0) return;
    if (this.total === 0 && bytes.byteLength < MIN_CHUNK) {
      // A small file's first piece is often all of it: kept at its own size. A 64 KiB chunk per
      // restored file, kept by bytes() as a view, was 25 GB of memory for 390k files on the phone.
      this.current = bytes.slice();
      this.chunks.push(this.current);
      this.used = this.total = bytes.byteLength;
      return;
    }
    if (this.current && this.current.byteLength < MIN_CHUNK) {
      // More pieces follow: the first moves into a full-size chunk, so chunks stay multiples of 64 KiB.
      const first = new Uint8Array(MIN_CHUNK);
      first.set(this.current);
      this.chunks[0] = this.current = first;
    }
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

  /**
   * All the bytes in one array of their own size: a copy unless they fill one chunk exactly (a view
   * of a chunk's filled part would keep the whole chunk alive as long as the bytes).
   */
  bytes(): Uint8Array {
    const parts = this.parts();
    if (parts.length === 0) return new Uint8Array(0);
    if (parts.length > 1) return concatBytes(parts);
    const only = parts[0]!;
    return only.byteLength === only.buffer.byteLength ? only : only.slice();
  }
}

/**
 * Bytes arriving in pieces that should equal `known`: a file this side wrote earlier and now reads
 * back. Nothing is stored while they match; from the first piece that differs on, they are kept
 * (the matched start copied from `known`), so `parts()` is always exactly what arrived. A read-back
 * that matches costs no memory: on the virtual phone's big heap, keeping a 1.19 GB Manifest.db as it
 * came back was a full collection per ≈64 MB.
 */
export class ExpectedBytes {
  private readonly knownLength: number;
  /** Bytes that arrived and equal `known`'s first ones (all of them while nothing is kept). */
  private matched = 0;
  /** Where byte `matched` is in `known`. */
  private part = 0;
  private partAt = 0;
  private kept: ChunkedBytes | null = null;

  constructor(private readonly known: readonly Uint8Array[]) {
    this.knownLength = known.reduce((n, p) => n + p.byteLength, 0);
  }

  get byteLength(): number {
    return this.kept ? this.kept.byteLength : this.matched;
  }

  /** Whether what arrived is all of `known`, byte for byte. */
  get same(): boolean {
    return this.kept === null && this.matched === this.knownLength;
  }

  append(bytes: Uint8Array): void {
    if (this.kept === null && this.matches(bytes)) return;
    this.kept ??= this.copyOfMatched();
    this.kept.append(bytes);
  }

  /** What arrived: `known`'s own parts when it was all of it (the caller must not change one without the other). */
  parts(): readonly Uint8Array[] {
    if (this.kept) return this.kept.parts();
    if (this.matched === this.knownLength) return this.known;
    return this.copyOfMatched().parts();
  }

  /** The bytes matched so far, copied out of `known`. */
  private copyOfMatched(): ChunkedBytes {
    const copy = new ChunkedBytes();
    for (const piece of prefixParts(this.known, this.matched)) copy.append(piece);
    return copy;
  }

  /** Compares `bytes` with `known` from byte `matched`, moving on past them when they are equal. */
  private matches(bytes: Uint8Array): boolean {
    if (this.matched + bytes.byteLength > this.knownLength) return false;
    let part = this.part;
    let partAt = this.partAt;
    for (let at = 0; at < bytes.byteLength; ) {
      const from = this.known[part]!;
      const n = Math.min(bytes.byteLength - at, from.byteLength - partAt);
      if (!sameSpan(from, partAt, bytes, at, n)) return false;
      at += n;
      partAt += n;
      if (partAt === from.byteLength) (part++, (partAt = 0));
    }
    this.part = part;
    this.partAt = partAt;
    this.matched += bytes.byteLength;
    return true;
  }
}

/** The first `length` bytes of a run laid back to back from `parts`, as views of them. */
function prefixParts(parts: readonly Uint8Array[], length: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0, left = length; left > 0 && i < parts.length; i++) {
    const piece = parts[i]!.subarray(0, Math.min(left, parts[i]!.byteLength));
    out.push(piece);
    left -= piece.byteLength;
  }
  return out;
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

/** Where a span of y aligned otherwise than x's is copied, to be compared four bytes at a time. */
let alignedScratch = new Uint8Array(0);
const SCRATCH_MAX = 4 * 1024 * 1024;

/** x[xAt, xAt + n) equals y[yAt, yAt + n): four bytes at a time past the first few. */
function sameSpan(x: Uint8Array, xAt: number, y: Uint8Array, yAt: number, n: number): boolean {
  if (n >= 64) {
    const xStart = x.byteOffset + xAt;
    let yStart = y.byteOffset + yAt;
    if ((xStart & 3) !== (yStart & 3) && n <= SCRATCH_MAX) {
      // One copy (a memcpy) costs far less than comparing byte by byte; pieces read off a stream land anywhere.
      const shift = xStart & 3;
      if (alignedScratch.byteLength < n + shift) alignedScratch = new Uint8Array(Math.max(n + 4, 64 * 1024));
      alignedScratch.set(y.subarray(yAt, yAt + n), shift);
      y = alignedScratch;
      yAt = shift;
      yStart = shift;
    }
    if ((xStart & 3) === (yStart & 3)) {
      const head = (4 - (xStart & 3)) & 3;
      for (let i = 0; i < head; i++) if (x[xAt + i] !== y[yAt + i]) return false;
      const words = (n - head) >>> 2;
      const xw = new Int32Array(x.buffer, xStart + head, words);
      const yw = new Int32Array(y.buffer, yStart + head, words);
      for (let w = 0; w < words; w++) if (xw[w] !== yw[w]) return false;
      for (let i = head + words * 4; i < n; i++) if (x[xAt + i] !== y[yAt + i]) return false;
      return true;
    }
  }
  for (let i = 0; i < n; i++) if (x[xAt + i] !== y[yAt + i]) return false;
  return true;
}
