import type { ByteStream } from './byte-stream.ts';
import { concatBytes } from './bytes.ts';
import { ProtocolError } from './errors.ts';

/** Reads up to this size get their buffer up front; larger ones grow with what arrives. */
const EAGER_ALLOCATION_LIMIT = 1 << 20;
/**
 * The reader's own buffer when it copies (a stream with readInto): it starts small, since most
 * connections carry a few messages, and grows each time a read fills it.
 */
const FIRST_COPY_BUFFER_BYTES = 16 * 1024;
const COPY_BUFFER_BYTES = 256 * 1024;

/**
 * Reads exact byte counts from a ByteStream that delivers arbitrary chunks. Framed protocols
 * (lockdown's length-prefixed plists, DeviceLink file blocks, AFC packets, TLS records) sit on it.
 *
 * Over a stream with `readInto` the reader copies: it fills one buffer of its own, reused, and every
 * method returns copies, so the stream can reuse its receive memory. Otherwise it keeps the chunks
 * the stream hands over and returns views of them. Either way the caller owns what it gets.
 */
export class BufferedReader {
  private buffer: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private ended = false;
  /** Filled through stream.readInto and reused; null unless the reader copies. */
  private own: Uint8Array | null = null;

  constructor(
    private readonly stream: ByteStream,
    private readonly layer = 'stream',
  ) {}

  /** True when this reader copies out of a buffer it reuses (the stream has readInto). */
  get copies(): boolean {
    return this.stream.readInto !== undefined;
  }

  /** Bytes already buffered and not yet consumed. */
  get buffered(): number {
    return this.buffer.byteLength - this.offset;
  }

  /** Exactly `n` bytes; throws ProtocolError if the stream ends first. */
  async readExactly(n: number): Promise<Uint8Array> {
    const result = await this.readExactlyOrEnd(n);
    if (result === null) throw new ProtocolError(this.layer, `connection closed while ${n} bytes were expected`);
    return result;
  }

  /** Exactly `n` bytes, or null if the stream ended cleanly before the first of them. */
  async readExactlyOrEnd(n: number): Promise<Uint8Array | null> {
    if (this.buffered >= n) return this.take(n);
    // `n` comes from the peer: memory follows the bytes that actually arrive, not the length it claims.
    if (n > EAGER_ALLOCATION_LIMIT) return this.gather(n);
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (this.buffered === 0) {
        if (!(await this.fill())) {
          if (filled === 0) return null;
          throw new ProtocolError(this.layer, `connection closed after ${filled} of ${n} bytes`);
        }
      }
      const take = Math.min(n - filled, this.buffered);
      out.set(this.buffer.subarray(this.offset, this.offset + take), filled);
      this.offset += take;
      filled += take;
    }
    return out;
  }

  /** A large read: keeps the chunks (the reader owns them) and joins them once all `n` bytes are in. */
  private async gather(n: number): Promise<Uint8Array | null> {
    const parts: Uint8Array[] = [];
    let filled = 0;
    while (filled < n) {
      if (this.buffered === 0 && !(await this.fill())) {
        if (filled === 0) return null;
        throw new ProtocolError(this.layer, `connection closed after ${filled} of ${n} bytes`);
      }
      const take = Math.min(n - filled, this.buffered);
      parts.push(this.take(take));
      filled += take;
    }
    return concatBytes(parts);
  }

  /** Whatever is buffered, or the next chunk; null at end of stream. Never more than `max` bytes. */
  async readAvailable(max = Infinity): Promise<Uint8Array | null> {
    if (this.buffered === 0 && !(await this.fill())) return null;
    return this.take(Math.min(max, this.buffered));
  }

  /**
   * Copies whatever is buffered, or the next bytes, into `target` and returns how many (at least one
   * for a non-empty target), or null at end of stream. A copying reader with nothing buffered reads
   * straight into `target`, one copy from the stream's memory.
   */
  async readAvailableInto(target: Uint8Array): Promise<number | null> {
    if (target.byteLength === 0) return 0;
    if (this.buffered === 0 && this.stream.readInto) return this.readThrough(this.stream.readInto.bind(this.stream), target);
    if (this.buffered === 0 && !(await this.fill())) return null;
    const n = Math.min(target.byteLength, this.buffered);
    target.set(this.buffer.subarray(this.offset, this.offset + n));
    this.offset += n;
    return n;
  }

  /**
   * Exactly `n` bytes already buffered, without a promise; null when fewer are buffered (then use
   * readExactly). Hot loops parse most small fields this way: an awaited call per field is a
   * promise and a microtask turn, which at a million files is garbage the young generation keeps.
   */
  takeBuffered(n: number): Uint8Array | null {
    return this.buffered < n ? null : this.take(n);
  }

  /**
   * Up to `max` of the bytes already buffered (at least one when any are), as a view of the reader's
   * memory: no copy, but valid only until the reader's next read. For a consumer done with them before
   * it awaits anything (a synchronous file write).
   */
  viewBuffered(max: number): Uint8Array {
    const n = Math.min(max, this.buffered);
    const view = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return view;
  }

  /** Everything already buffered, as a view, without consuming it: valid until the reader's next read. */
  peekBuffered(): Uint8Array {
    return this.buffer.subarray(this.offset);
  }

  /** Waits until at least one byte is buffered; false at the end of the stream. */
  async waitBuffered(): Promise<boolean> {
    return this.buffered > 0 || this.fill();
  }

  /** The next `n` bytes already buffered, decoded as text; null when fewer are buffered. */
  takeBufferedText(n: number, decoder: TextDecoder): string | null {
    if (this.buffered < n) return null;
    const text = decoder.decode(this.buffer.subarray(this.offset, this.offset + n));
    this.offset += n;
    return text;
  }

  /** Skips `n` bytes already buffered; false (and nothing skipped) when fewer are buffered. */
  skipBuffered(n: number): boolean {
    if (this.buffered < n) return false;
    this.offset += n;
    return true;
  }

  /** The next byte if buffered, else -1. */
  takeByte(): number {
    return this.buffered === 0 ? -1 : this.buffer[this.offset++]!;
  }

  /** A big-endian uint32 already buffered, without a promise; -1 when fewer than 4 bytes are. */
  takeUint32BE(): number {
    if (this.buffered < 4) return -1;
    const b = this.buffer;
    const o = this.offset;
    this.offset += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  async readUint32BE(): Promise<number> {
    const b = await this.readExactly(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  /** The stream's next bytes copied into `target` (a non-empty one), or null at the end. */
  private async readThrough(readInto: (target: Uint8Array) => Promise<number | null>, target: Uint8Array): Promise<number | null> {
    if (this.ended) return null;
    for (;;) {
      const n = await readInto(target);
      if (n === null) {
        this.ended = true;
        return null;
      }
      if (n > 0) return n;
    }
  }

  /** The next `n` buffered bytes: a copy when the reader reuses its buffer, else a view. */
  private take(n: number): Uint8Array {
    const start = this.offset;
    this.offset += n;
    return this.own ? this.buffer.slice(start, start + n) : this.buffer.subarray(start, start + n);
  }

  /** Returns false at end of stream. Only called with nothing buffered. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    if (this.stream.readInto) {
      this.own ??= new Uint8Array(FIRST_COPY_BUFFER_BYTES);
      const n = await this.readThrough(this.stream.readInto.bind(this.stream), this.own);
      if (n === null) return false;
      this.buffer = this.own.subarray(0, n);
      this.offset = 0;
      // Full: more is likely waiting. The bytes just read stay where they are; the next fill uses the bigger one.
      if (n === this.own.byteLength && n < COPY_BUFFER_BYTES) this.own = new Uint8Array(Math.min(COPY_BUFFER_BYTES, n * 4));
      return true;
    }
    for (;;) {
      const chunk = await this.stream.read();
      if (chunk === null) {
        this.ended = true;
        return false;
      }
      if (chunk.byteLength === 0) continue;
      this.buffer = chunk;
      this.offset = 0;
      return true;
    }
  }
}
