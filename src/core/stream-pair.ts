import type { ByteStream } from './byte-stream.ts';

/**
 * Two in-memory ByteStreams wired back to back. Each direction buffers at most `highWaterMark`
 * bytes before `write` waits, so a slow reader slows the writer exactly as a mux window would.
 * Used to join the virtual iPhone's services to whatever carries them, and in tests.
 */
export function createStreamPair(highWaterMark = 1 << 20): [ByteStream, ByteStream] {
  const aToB = new Channel(highWaterMark);
  const bToA = new Channel(highWaterMark);
  const a = new PairEnd(bToA, aToB);
  const b = new PairEnd(aToB, bToA);
  return [a, b];
}

class Channel {
  private chunks: Uint8Array[] = [];
  private queued = 0;
  private closed = false;
  private readWaiter: (() => void) | undefined;
  private writeWaiters: (() => void)[] = [];

  constructor(private readonly highWaterMark: number) {}

  async push(data: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('stream closed');
    if (data.byteLength === 0) return;
    this.chunks.push(data);
    this.queued += data.byteLength;
    this.wakeReader();
    while (this.queued > this.highWaterMark && !this.closed) {
      await new Promise<void>((resolve) => this.writeWaiters.push(resolve));
    }
  }

  async pull(): Promise<Uint8Array | null> {
    while (this.chunks.length === 0) {
      if (this.closed) return null;
      await new Promise<void>((resolve) => (this.readWaiter = resolve));
    }
    const chunk = this.chunks.shift()!;
    this.queued -= chunk.byteLength;
    if (this.queued <= this.highWaterMark) this.wakeWriters();
    return chunk;
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeReader();
    this.wakeWriters();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private wakeReader(): void {
    const waiter = this.readWaiter;
    this.readWaiter = undefined;
    waiter?.();
  }

  private wakeWriters(): void {
    const waiters = this.writeWaiters;
    this.writeWaiters = [];
    for (const w of waiters) w();
  }
}

class PairEnd implements ByteStream {
  constructor(
    private readonly incoming: Channel,
    private readonly outgoing: Channel,
  ) {}

  read(): Promise<Uint8Array | null> {
    return this.incoming.pull();
  }

  write(data: Uint8Array): Promise<void> {
    return this.outgoing.push(data);
  }

  async close(): Promise<void> {
    this.outgoing.end();
    this.incoming.end();
  }
}
