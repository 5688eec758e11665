/**
 * Copies of small chunks carved out of a few large blocks that are used again once their copies
 * are written. A packed small file is copied once when it arrives (the caller reuses its buffer) and
 * lives until its pack write. One fresh ArrayBuffer per copy — or a fresh block per megabyte — made
 * page faults on new memory and the garbage collector a large share of a small file's cost in
 * Chromium; recycled blocks are already mapped.
 */
interface Block {
  bytes: Uint8Array;
  used: number;
  /** Copies handed out and not yet released. */
  live: number;
}

/** Spare blocks kept for reuse (more would only be needed by a burst of unwritten files). */
const SPARE_BLOCKS = 3;

export class ByteArena {
  private current: Block;
  private readonly spare: Block[] = [];
  private readonly owners = new WeakMap<ArrayBufferLike, Block>();

  constructor(private readonly blockSize = 1024 * 1024) {
    this.current = this.newBlock();
  }

  /** A copy of `bytes` that stays valid until release(copy). */
  copy(bytes: Uint8Array): Uint8Array {
    const n = bytes.byteLength;
    // Big pieces get their own buffer: carving them would waste most of a block.
    if (n > this.blockSize >> 2) return bytes.slice();
    if (this.current.used + n > this.blockSize) {
      this.current = this.spare.pop() ?? this.newBlock();
    }
    const block = this.current;
    const out = block.bytes.subarray(block.used, block.used + n);
    out.set(bytes);
    block.used += n;
    block.live++;
    return out;
  }

  /**
   * The copy is no longer needed; call once per copy (its block's memory is handed out again once
   * all its copies are released). Copies never released (an aborted file) only keep their block
   * from being reused; the garbage collector still frees it.
   */
  release(copy: Uint8Array): void {
    const block = this.owners.get(copy.buffer);
    if (!block || block.live === 0) return;
    block.live--;
    if (block.live > 0) return;
    block.used = 0;
    if (block !== this.current && this.spare.length < SPARE_BLOCKS) this.spare.push(block);
  }

  private newBlock(): Block {
    const block: Block = { bytes: new Uint8Array(this.blockSize), used: 0, live: 0 };
    this.owners.set(block.bytes.buffer, block);
    return block;
  }
}
