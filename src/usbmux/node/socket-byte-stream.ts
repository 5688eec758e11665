import type { Socket } from 'node:net';
import type { ByteStream } from '../../core/byte-stream.ts';
import { DeviceDisconnectedError } from '../../core/errors.ts';

/** Receive memory is allocated a slab at a time; a read gets whatever is left of the current one. */
const SLAB_BYTES = 1024 * 1024;
/**
 * A socket's first slab: most sockets (usbmuxd commands, lockdown, notifications) carry a few KB in
 * all. Each next slab is four times bigger, up to SLAB_BYTES.
 */
const FIRST_SLAB_BYTES = 64 * 1024;
/** Below this much room left (a quarter of a smaller slab), the next read starts a fresh slab. */
const MIN_READ_BYTES = 64 * 1024;
/** Full-size slabs kept for reuse once everything received into them has been copied out. */
const SPARE_SLABS = 2;

/** One slab and who still needs it. */
interface Slab {
  readonly bytes: Buffer;
  /**
   * Bytes received into it and not yet copied out (see SlabReceiver.copied). A chunk handed out as it
   * is (ByteStream.read) is never copied out, so its slab is never reused.
   */
  unread: number;
}

/**
 * Receive buffers for a socket created with `net.connect({ onread: receiver.onread })`. Node's default
 * is a fresh 64 KiB buffer per read, pushed through the stream machinery ('data' events): per read an
 * allocation, a Buffer and a dozen calls. Here each read lands in the unused tail of a slab (64 KiB
 * first, then 256 KiB, then 1 MiB each) and that region is handed out as it is: no copy, one
 * allocation per slab, and reads of up to 1 MiB.
 * Measured on a backup of 5k files: about 15% less CPU in user space.
 *
 * A chunk handed out as it is belongs to the reader, so its slab lives while the chunk does and is
 * never reused. A reader that copies instead (SocketByteStream.readInto) gives the bytes back, and a
 * slab whose every byte came back is reused. Fresh slabs are garbage the collector notices late:
 * at 500 MB/s a backup of big files kept 30–45 MB of dead slabs alive between collections.
 */
export class SlabReceiver {
  private slab: Slab = newSlab(FIRST_SLAB_BYTES);
  private used = 0;
  private readonly spare: Slab[] = [];
  /** The slab of each receive buffer handed out, by its memory. */
  private readonly slabs = new WeakMap<ArrayBufferLike, Slab>([[this.slab.bytes.buffer, this.slab]]);
  private sink: ((chunk: Uint8Array) => void) | null = null;
  private early: Uint8Array[] = [];
  /** Slabs allocated so far (reuse keeps it low; tests and diagnostics read it). */
  slabsAllocated = 1;

  /** For `net.connect`/`createConnection`. */
  readonly onread = {
    buffer: (): Uint8Array => {
      const size = this.slab.bytes.byteLength;
      if (size - this.used < Math.min(MIN_READ_BYTES, size / 4)) {
        const old = this.slab;
        this.slab = this.spare.pop() ?? this.track(newSlab(Math.min(SLAB_BYTES, size * 4)));
        this.used = 0;
        this.retire(old);
      }
      return this.slab.bytes.subarray(this.used);
    },
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      // `buffer` is the tail handed out by `buffer()`; the bytes landed at its start.
      const chunk = new Uint8Array(buffer.buffer, buffer.byteOffset, bytes);
      if (buffer.buffer === this.slab.bytes.buffer) {
        this.used += bytes;
        this.slab.unread += bytes;
      }
      if (this.sink) this.sink(chunk);
      else this.early.push(chunk);
      return true;
    },
  };

  /** Where received chunks go from now on (chunks that came before are delivered first). */
  attach(sink: (chunk: Uint8Array) => void): void {
    this.sink = sink;
    const early = this.early;
    this.early = [];
    for (const chunk of early) sink(chunk);
  }

  /** `count` bytes of `chunk`'s slab were copied out and will not be read again. */
  copied(chunk: Uint8Array, count: number): void {
    const slab = this.slabs.get(chunk.buffer);
    if (!slab) return;
    slab.unread -= count;
    if (slab !== this.slab) this.retire(slab);
  }

  /** A slab no longer being filled: kept for reuse once nothing in it is still to be read. */
  private retire(slab: Slab): void {
    if (slab.unread !== 0 || slab.bytes.byteLength !== SLAB_BYTES) return;
    if (this.spare.length >= SPARE_SLABS || this.spare.includes(slab)) return;
    this.spare.push(slab);
  }

  private track(slab: Slab): Slab {
    this.slabsAllocated++;
    this.slabs.set(slab.bytes.buffer, slab);
    return slab;
  }
}

function newSlab(size = SLAB_BYTES): Slab {
  return { bytes: Buffer.allocUnsafeSlow(size), unread: 0 };
}

export interface SocketByteStreamOptions {
  /** Bytes received but not yet read beyond which the socket stops reading (the peer then blocks). */
  highWaterMark?: number;
  /** The error a write (or a read after a reset) fails with once the socket is gone. */
  closedError?: () => Error;
  /** The socket was created with this receiver's `onread`: data arrives through it, not 'data' events. */
  receiver?: SlabReceiver;
  /**
   * `write` settles only once the socket has handed the bytes to the kernel, so the caller may refill
   * them (ByteStream.releasesWrites). At most one write per caller is then in flight beyond the
   * kernel's buffer, which keeps a sender of a 1.19 GB file in one reused frame instead of fresh memory.
   */
  releaseWrites?: boolean;
}

/**
 * A Node socket seen as a ByteStream, with back-pressure both ways: the socket is paused while
 * more than `highWaterMark` received bytes wait to be read, and `write` waits for 'drain' whenever
 * the socket's own buffer is full, so neither side ever buffers without bound.
 */
export class SocketByteStream implements ByteStream {
  private readonly chunks: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private closed = false;
  private failure: Error | undefined;
  private readWaiter: (() => void) | undefined;
  private readonly drainWaiters = new Set<() => void>();
  /** Writes waiting for the socket to let go of their bytes (releaseWrites). */
  private readonly releaseWaiters = new Set<() => void>();
  private readonly highWaterMark: number;
  private readonly closedError: () => Error;
  private readonly receiver: SlabReceiver | undefined;
  /**
   * Copies the next bytes into `target` (as many as are queued, up to its length) and returns how many,
   * or null at the end; the slab they came from can then be reused. Offered only with a SlabReceiver:
   * over 'data' events every chunk is a fresh buffer anyway, and the virtual iPhone's server side
   * keeps much of what it reads (restored files), where a copy each would cost more than a view.
   */
  readonly readInto?: (target: Uint8Array) => Promise<number | null>;
  readonly releasesWrites: boolean;

  constructor(
    readonly socket: Socket,
    options: SocketByteStreamOptions = {},
  ) {
    this.highWaterMark = options.highWaterMark ?? 256 * 1024;
    this.closedError = options.closedError ?? (() => new DeviceDisconnectedError());
    this.receiver = options.receiver;
    this.releasesWrites = options.releaseWrites === true;
    if (options.receiver) {
      options.receiver.attach((chunk) => this.onData(chunk));
      this.readInto = (target) => this.copyOut(target);
    } else {
      socket.on('data', (data: Buffer) => this.onData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
    }
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onEnd());
    socket.on('error', (error) => {
      this.failure ??= error;
      this.onEnd();
    });
    socket.on('drain', () => this.wakeWriters(this.drainWaiters));
  }

  /** Bytes received and waiting to be read (never much above highWaterMark). */
  get bufferedAmount(): number {
    return this.queued;
  }

  async read(): Promise<Uint8Array | null> {
    if (!(await this.waitForData())) return null;
    const chunk = this.chunks.shift()!;
    this.consumed(chunk.byteLength);
    return chunk;
  }

  private async copyOut(target: Uint8Array): Promise<number | null> {
    if (target.byteLength === 0) return 0;
    if (!(await this.waitForData())) return null;
    let filled = 0;
    while (filled < target.byteLength && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const take = Math.min(chunk.byteLength, target.byteLength - filled);
      target.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), filled);
      if (take === chunk.byteLength) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(take);
      this.receiver?.copied(chunk, take);
      filled += take;
    }
    this.consumed(filled);
    return filled;
  }

  /** False at the end of the stream; true once a chunk is queued. */
  private async waitForData(): Promise<boolean> {
    while (this.chunks.length === 0) {
      if (this.ended || this.closed) {
        // A reset while the peer was still talking is a lost device, not a clean end.
        if (this.failure && !this.closed && isReset(this.failure)) throw this.closedErrorWithCause();
        return false;
      }
      await new Promise<void>((resolve) => (this.readWaiter = resolve));
    }
    return true;
  }

  private consumed(count: number): void {
    this.queued -= count;
    if (this.queued <= this.highWaterMark / 2 && this.socket.isPaused() && !this.ended) this.socket.resume();
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) throw this.closedErrorWithCause();
    if (data.byteLength === 0) return;
    if (this.releasesWrites) return this.writeAndRelease(data);
    if (this.socket.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.drainWaiters.delete(done);
        resolve();
      };
      this.drainWaiters.add(done);
    });
    if (this.socket.destroyed && this.socket.writableLength > 0) throw this.closedErrorWithCause();
  }

  /** Settles once the socket no longer holds `data`: written to the kernel, or failed. */
  private async writeAndRelease(data: Uint8Array): Promise<void> {
    let written = false;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.releaseWaiters.delete(done);
        resolve();
      };
      // Woken by close() or destroy() too: a socket torn down mid-write may never call back.
      this.releaseWaiters.add(done);
      this.socket.write(data, (error) => {
        written = !error;
        done();
      });
    });
    // Woken early, the socket may still be sending from `data`: the caller must not think it free.
    if (!written) throw this.closedErrorWithCause();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.chunks.length = 0;
    this.queued = 0;
    this.wakeReader();
    this.wakeWriters();
    // Anything still arriving is discarded; flowing mode lets the peer's FIN arrive so the socket can finish.
    this.socket.resume();
    if (!this.socket.destroyed) {
      this.socket.end();
      const timer = setTimeout(() => this.socket.destroy(), 2000);
      timer.unref();
      this.socket.once('close', () => clearTimeout(timer));
    }
  }

  /** Drops the connection at once, without flushing (an unplugged cable). */
  destroy(): void {
    this.closed = true;
    this.chunks.length = 0;
    this.queued = 0;
    this.socket.destroy();
    this.wakeReader();
    this.wakeWriters();
  }

  private onData(data: Uint8Array): void {
    if (this.closed) return;
    this.chunks.push(data);
    this.queued += data.byteLength;
    if (this.queued > this.highWaterMark) this.socket.pause();
    this.wakeReader();
  }

  private onEnd(): void {
    this.ended = true;
    this.wakeReader();
    if (this.socket.destroyed) this.wakeWriters();
  }

  private wakeReader(): void {
    const waiter = this.readWaiter;
    this.readWaiter = undefined;
    waiter?.();
  }

  /** Every waiting write, or only those of `waiters`. */
  private wakeWriters(waiters?: Set<() => void>): void {
    for (const set of waiters ? [waiters] : [this.drainWaiters, this.releaseWaiters]) {
      for (const w of [...set]) w();
    }
  }

  private closedErrorWithCause(): Error {
    const error = this.closedError();
    if (this.failure && error.cause === undefined) (error as { cause?: unknown }).cause = this.failure;
    return error;
  }
}

function isReset(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}
