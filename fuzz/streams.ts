import type { ByteStream } from '../src/core/byte-stream.ts';

/**
 * The peer's side of a conversation replayed from one input: reads return the input in chunks of
 * varying size (framing must not depend on where a transfer ends), writes are swallowed. With
 * `copying` it also offers readInto, as the CLI's socket does, so readers above it copy.
 */
export class ReplayStream implements ByteStream {
  private offset = 0;
  private turn = 0;
  private closed = false;
  readonly written: Uint8Array[] = [];
  readonly readInto?: (target: Uint8Array) => Promise<number | null>;

  constructor(
    private readonly input: Uint8Array,
    private readonly chunkSizes: readonly number[] = [4096, 1, 7, 512, 65536, 3, 16384],
    copying = false,
  ) {
    if (copying) {
      this.readInto = async (target) => {
        if (target.byteLength === 0) return 0;
        const chunk = await this.read();
        if (chunk === null) return null;
        const n = Math.min(chunk.byteLength, target.byteLength);
        target.set(chunk.subarray(0, n));
        this.offset -= chunk.byteLength - n; // what did not fit comes next time
        return n;
      };
    }
  }

  async read(): Promise<Uint8Array | null> {
    if (this.closed || this.offset >= this.input.length) return null;
    const size = this.chunkSizes[this.turn++ % this.chunkSizes.length]!;
    const chunk = this.input.slice(this.offset, this.offset + size);
    this.offset += chunk.length;
    return chunk;
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.written.length < 64) this.written.push(data);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
