/**
 * The device's IN transfer buffers, reused once the host hands them back. A buffer leaves the pool
 * when a packet is built in it and comes back only through `give` — which the host calls once it holds
 * no view into it (or, across a worker, by transferring it back, which detaches every page-side view).
 * A host that never gives buffers back (real WebUSB semantics: the page owns every result) just makes
 * the pool allocate, so reuse can never alias bytes someone still reads.
 *
 * Why bother: in Chromium a fresh ArrayBuffer costs its page faults on first touch (tens of µs per
 * 4 KiB page on a loaded VM), which capped the demo/bench path near 100 MB/s; a recycled one costs none.
 */
export class TransferBufferPool {
  private readonly free: ArrayBuffer[] = [];
  /** Buffers allocated because the pool was empty (tests and benches watch reuse through it). */
  allocated = 0;
  /** Buffers taken from the pool again. */
  reused = 0;

  constructor(
    /** Every pooled buffer has exactly this size (the device's largest packet). */
    readonly bufferSize: number,
    /** Most idle buffers kept; more given back are left to the garbage collector. */
    readonly maxIdle = 64,
  ) {}

  /** A whole pooled buffer to build one packet in. */
  take(): Uint8Array {
    const buffer = this.free.pop();
    if (buffer) {
      this.reused++;
      return new Uint8Array(buffer);
    }
    this.allocated++;
    return new Uint8Array(this.bufferSize);
  }

  /** Hands a buffer back for reuse; the caller must hold no view into it. Foreign sizes are ignored. */
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength !== this.bufferSize || this.free.length >= this.maxIdle) return;
    this.free.push(buffer);
  }

  get idle(): number {
    return this.free.length;
  }

  clear(): void {
    this.free.length = 0;
  }
}
