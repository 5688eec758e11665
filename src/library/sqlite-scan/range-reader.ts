/** Random access to one file's bytes: what reading a database in place needs from its storage. */
export interface RangeReader {
  /** The file's length in bytes. */
  readonly size: number;
  /** Bytes [start, end), clamped to the file. */
  read(start: number, end: number): Promise<Uint8Array>;
}

/**
 * Reads in aligned windows and keeps the last few, so page-by-page access costs one storage read
 * per window instead of one per page. A b-tree scan visits pages in tree order, which in a
 * database written front to back is mostly file order: a handful of windows catch nearly every page.
 */
export class WindowCache {
  private readonly windows = new Map<number, Promise<Uint8Array>>();

  constructor(
    private readonly reader: RangeReader,
    readonly windowSize = 1 << 20,
    private readonly keep = 8,
  ) {}

  get size(): number {
    return this.reader.size;
  }

  /** The window holding `offset`, and where it starts. */
  async window(offset: number): Promise<{ start: number; bytes: Uint8Array }> {
    const index = Math.floor(offset / this.windowSize);
    let hit = this.windows.get(index);
    if (hit) {
      this.windows.delete(index); // re-insert: Map order is recency
    } else {
      const start = index * this.windowSize;
      hit = this.reader.read(start, Math.min(this.reader.size, start + this.windowSize));
      hit.catch(() => this.windows.delete(index));
      while (this.windows.size >= this.keep) this.windows.delete(this.windows.keys().next().value!);
    }
    this.windows.set(index, hit);
    return { start: index * this.windowSize, bytes: await hit };
  }
}
