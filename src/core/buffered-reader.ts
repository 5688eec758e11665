import type { ByteStream } from './byte-stream.ts';
import { concatBytes } from './bytes.ts';
import { ProtocolError } from './errors.ts';

/** Reads up to this size get their buffer up front; larger ones grow with what arrives. */
const EAGER_ALLOCATION_LIMIT = 1 << 20;

/**
 * Reads exact byte counts from a ByteStream that delivers arbitrary chunks. Framed protocols
 * (lockdown's length-prefixed plists, DeviceLink file blocks, AFC packets, TLS records) sit on it.
 */
export class BufferedReader {
  private buffer: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private ended = false;

  constructor(
    private readonly stream: ByteStream,
    private readonly layer = 'stream',
  ) {}

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
    if (this.buffered >= n) {
      const out = this.buffer.subarray(this.offset, this.offset + n);
      this.offset += n;
      return out;
    }
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
      parts.push(this.buffer.subarray(this.offset, this.offset + take));
      this.offset += take;
      filled += take;
    }
    return concatBytes(parts);
  }

  /** Whatever is buffered, or the next chunk; null at end of stream. Never more than `max` bytes. */
  async readAvailable(max = Infinity): Promise<Uint8Array | null> {
    if (this.buffered === 0 && !(await this.fill())) return null;
    const take = Math.min(max, this.buffered);
    const out = this.buffer.subarray(this.offset, this.offset + take);
    this.offset += take;
    return out;
  }

  /**
   * Exactly `n` bytes already buffered, without a promise; null when fewer are buffered (then use
   * readExactly). Hot loops parse most small fields this way: an awaited call per field is a
   * promise and a microtask turn, which at a million files is garbage the young generation keeps.
   */
  takeBuffered(n: number): Uint8Array | null {
    if (this.buffered < n) return null;
    const out = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
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

  /** Returns false at end of stream. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
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
