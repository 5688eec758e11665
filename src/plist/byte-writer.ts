/** An append-only byte buffer that grows by doubling, so encoders never concatenate per byte. */
export class ByteWriter {
  private buffer: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initialCapacity = 1024) {
    this.buffer = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buffer.buffer);
  }

  /** Makes room for `n` more bytes and returns the offset to write them at. */
  reserve(n: number): number {
    const need = this.length + n;
    if (need > this.buffer.byteLength) {
      let capacity = this.buffer.byteLength * 2;
      while (capacity < need) capacity *= 2;
      const next = new Uint8Array(capacity);
      next.set(this.buffer.subarray(0, this.length));
      this.buffer = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length = need;
    return at;
  }

  get bytes(): Uint8Array {
    return this.buffer;
  }

  get dataView(): DataView {
    return this.view;
  }

  u8(v: number): void {
    const at = this.reserve(1);
    this.buffer[at] = v;
  }

  /** Big-endian unsigned integer of `size` bytes (1–8); `v` must be a safe non-negative integer. */
  uint(v: number, size: number): void {
    const at = this.reserve(size);
    const b = this.buffer;
    if (size === 1) {
      b[at] = v;
      return;
    }
    if (size === 2) {
      b[at] = v >>> 8;
      b[at + 1] = v;
      return;
    }
    if (size === 4) {
      this.view.setUint32(at, v);
      return;
    }
    for (let i = size - 1; i >= 0; i--) {
      b[at + i] = v % 256;
      v = Math.floor(v / 256);
    }
  }

  append(bytes: Uint8Array): void {
    const at = this.reserve(bytes.byteLength);
    this.buffer.set(bytes, at);
  }

  result(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}
