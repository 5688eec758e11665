import type { Socket } from 'node:net';
import type { ByteStream } from '../../core/byte-stream.ts';
import { DeviceDisconnectedError } from '../../core/errors.ts';

/** Receive memory is allocated a slab at a time; a read gets whatever is left of the current one. */
const SLAB_BYTES = 1024 * 1024;
/** Below this much room left, the next read starts a fresh slab. */
const MIN_READ_BYTES = 64 * 1024;

/**
 * Receive buffers for a socket created with `net.connect({ onread: receiver.onread })`. Node's default
 * is a fresh 64 KiB buffer per read, pushed through the stream machinery ('data' events): per read an
 * allocation, a Buffer and a dozen calls. Here each read lands in the unused tail of a 1 MiB slab and
 * that region is handed out as it is: no copy (no region is ever reused, so the reader owns it as
 * ByteStream requires), one allocation per slab, and reads of up to 1 MiB. Measured on a backup of
 * 5k files: about 15% less CPU in user space. A slab lives while any chunk cut from it does.
 */
export class SlabReceiver {
  private slab: Buffer = Buffer.allocUnsafe(SLAB_BYTES);
  private used = 0;
  private sink: ((chunk: Uint8Array) => void) | null = null;
  private early: Uint8Array[] = [];

  /** For `net.connect`/`createConnection`. */
  readonly onread = {
    buffer: (): Uint8Array => {
      if (SLAB_BYTES - this.used < MIN_READ_BYTES) {
        this.slab = Buffer.allocUnsafe(SLAB_BYTES);
        this.used = 0;
      }
      return this.slab.subarray(this.used);
    },
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      // `buffer` is the tail handed out by `buffer()`; the bytes landed at its start.
      const chunk = new Uint8Array(buffer.buffer, buffer.byteOffset, bytes);
      if (buffer.buffer === this.slab.buffer) this.used += bytes;
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
}

export interface SocketByteStreamOptions {
  /** Bytes received but not yet read beyond which the socket stops reading (the peer then blocks). */
  highWaterMark?: number;
  /** The error a write (or a read after a reset) fails with once the socket is gone. */
  closedError?: () => Error;
  /** The socket was created with this receiver's `onread`: data arrives through it, not 'data' events. */
  receiver?: SlabReceiver;
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
  private readonly highWaterMark: number;
  private readonly closedError: () => Error;

  constructor(
    readonly socket: Socket,
    options: SocketByteStreamOptions = {},
  ) {
    this.highWaterMark = options.highWaterMark ?? 256 * 1024;
    this.closedError = options.closedError ?? (() => new DeviceDisconnectedError());
    if (options.receiver) options.receiver.attach((chunk) => this.onData(chunk));
    else socket.on('data', (data: Buffer) => this.onData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onEnd());
    socket.on('error', (error) => {
      this.failure ??= error;
      this.onEnd();
    });
    socket.on('drain', () => this.wakeWriters());
  }

  /** Bytes received and waiting to be read (never much above highWaterMark). */
  get bufferedAmount(): number {
    return this.queued;
  }

  async read(): Promise<Uint8Array | null> {
    while (this.chunks.length === 0) {
      if (this.ended || this.closed) {
        // A reset while the peer was still talking is a lost device, not a clean end.
        if (this.failure && !this.closed && isReset(this.failure)) throw this.closedErrorWithCause();
        return null;
      }
      await new Promise<void>((resolve) => (this.readWaiter = resolve));
    }
    const chunk = this.chunks.shift()!;
    this.queued -= chunk.byteLength;
    if (this.queued <= this.highWaterMark / 2 && this.socket.isPaused() && !this.ended) this.socket.resume();
    return chunk;
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) throw this.closedErrorWithCause();
    if (data.byteLength === 0) return;
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

  private wakeWriters(): void {
    for (const w of [...this.drainWaiters]) w();
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
