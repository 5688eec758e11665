import type { ByteStream } from './byte-stream.ts';

/**
 * Memory a writer lends the pair (lendWrite) and wants back: `copied` once the reader copied all of it
 * out (readInto), `taken` when the reader got it as it is (read) and so may keep it for good.
 */
export interface LentChunk {
  copied(): void;
  taken(): void;
}

/** A pair end whose writer can lend its memory; see LentChunk. */
export interface LendingByteStream extends ByteStream {
  lendWrite(data: Uint8Array, lent: LentChunk): Promise<void>;
}

/**
 * Two in-memory ByteStreams wired back to back. Each direction buffers at most `highWaterMark`
 * bytes before `write` waits, so a slow reader slows the writer exactly as a mux window would.
 * Used to join the virtual iPhone's services to whatever carries them, and in tests.
 *
 * With `copyingReads`, each end also offers readInto, so a BufferedReader on it copies and memory a
 * writer lent comes back (the virtual iPhone's USB path: the host's transfer buffers return to it).
 */
export function createStreamPair(highWaterMark = 1 << 20, options: { copyingReads?: boolean } = {}): [LendingByteStream, LendingByteStream] {
  const aToB = new Channel(highWaterMark);
  const bToA = new Channel(highWaterMark);
  const copying = options.copyingReads === true;
  const a = new PairEnd(bToA, aToB, copying);
  const b = new PairEnd(aToB, bToA, copying);
  return [a, b];
}

class Channel {
  private chunks: Uint8Array[] = [];
  /** What each queued chunk's writer wants told (parallel to chunks). */
  private lents: (LentChunk | undefined)[] = [];
  private queued = 0;
  private closed = false;
  private readWaiter: (() => void) | undefined;
  private writeWaiters: (() => void)[] = [];

  constructor(private readonly highWaterMark: number) {}

  async push(data: Uint8Array, lent?: LentChunk): Promise<void> {
    if (this.closed) throw new Error('stream closed');
    if (data.byteLength === 0) {
      lent?.copied();
      return;
    }
    this.chunks.push(data);
    this.lents.push(lent);
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
    this.lents.shift()?.taken();
    this.queued -= chunk.byteLength;
    if (this.queued <= this.highWaterMark) this.wakeWriters();
    return chunk;
  }

  /** Copies queued bytes into `target` (as many as there are, up to its length); null once closed and drained. */
  async pullInto(target: Uint8Array): Promise<number | null> {
    if (target.byteLength === 0) return 0;
    while (this.chunks.length === 0) {
      if (this.closed) return null;
      await new Promise<void>((resolve) => (this.readWaiter = resolve));
    }
    let filled = 0;
    while (filled < target.byteLength && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const take = Math.min(chunk.byteLength, target.byteLength - filled);
      target.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), filled);
      filled += take;
      if (take === chunk.byteLength) {
        this.chunks.shift();
        this.lents.shift()?.copied();
      } else {
        this.chunks[0] = chunk.subarray(take);
      }
    }
    this.queued -= filled;
    if (this.queued <= this.highWaterMark) this.wakeWriters();
    return filled;
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

class PairEnd implements LendingByteStream {
  readonly readInto?: (target: Uint8Array) => Promise<number | null>;

  constructor(
    private readonly incoming: Channel,
    private readonly outgoing: Channel,
    copyingReads: boolean,
  ) {
    if (copyingReads) this.readInto = (target) => this.incoming.pullInto(target);
  }

  read(): Promise<Uint8Array | null> {
    return this.incoming.pull();
  }

  write(data: Uint8Array): Promise<void> {
    return this.outgoing.push(data);
  }

  lendWrite(data: Uint8Array, lent: LentChunk): Promise<void> {
    return this.outgoing.push(data, lent);
  }

  async close(): Promise<void> {
    this.outgoing.end();
    this.incoming.end();
  }
}
