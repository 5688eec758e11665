import { Alert, fatal } from './errors.ts';

/** Strict cursor over a handshake message body: every length is checked, overruns are decode_error. */
export class ByteReader {
  private offset = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.bytes.byteLength - this.offset;
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }

  u16(): number {
    this.need(2);
    const v = (this.bytes[this.offset]! << 8) | this.bytes[this.offset + 1]!;
    this.offset += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const b = this.bytes;
    const v = (b[this.offset]! << 16) | (b[this.offset + 1]! << 8) | b[this.offset + 2]!;
    this.offset += 3;
    return v;
  }

  take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** A vector with a 1-, 2- or 3-byte length prefix, as a sub-reader. */
  vector(lengthBytes: 1 | 2 | 3, what = this.what): ByteReader {
    const n = lengthBytes === 1 ? this.u8() : lengthBytes === 2 ? this.u16() : this.u24();
    return new ByteReader(this.take(n), what);
  }

  vectorBytes(lengthBytes: 1 | 2 | 3): Uint8Array {
    const n = lengthBytes === 1 ? this.u8() : lengthBytes === 2 ? this.u16() : this.u24();
    return this.take(n);
  }

  end(): void {
    if (this.remaining !== 0) throw fatal(Alert.decodeError, `${this.remaining} trailing bytes in ${this.what}`);
  }

  private need(n: number): void {
    if (this.offset + n > this.bytes.byteLength) throw fatal(Alert.decodeError, `${this.what} is truncated`);
  }
}

/** Growable big-endian writer for handshake messages (small, so simplicity beats speed here). */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.byteLength);
    this.buf.set(b, this.len);
    this.len += b.byteLength;
    return this;
  }

  /** Writes a length-prefixed vector whose body `fill` writes. */
  vector(lengthBytes: 1 | 2 | 3, fill: (w: ByteWriter) => void): this {
    const start = this.len;
    this.ensure(lengthBytes);
    this.len += lengthBytes;
    fill(this);
    const n = this.len - start - lengthBytes;
    const max = lengthBytes === 1 ? 0xff : lengthBytes === 2 ? 0xffff : 0xffffff;
    if (n > max) throw fatal(Alert.internalError, 'vector too long to encode');
    for (let i = 0; i < lengthBytes; i++) this.buf[start + i] = (n >>> (8 * (lengthBytes - 1 - i))) & 0xff;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

export { concatBytes as concat } from '../core/bytes.ts';

/** Constant-time comparison of equal-length secrets (Finished verify_data, MACs). */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/** WebCrypto wants ArrayBuffer-backed views; our views always are, this just tells TypeScript. */
export function bs(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b as Uint8Array<ArrayBuffer>;
}
