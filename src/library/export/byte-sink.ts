/** Where exports write: a WritableStream writer (browser file/OPFS) or a Node file; nothing else is assumed. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A folder being written by an export; paths are "/"-separated and relative to it. */
export interface ExportTarget {
  writeFile(path: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void>;
  /** A link at `path`; on a target with `linkStandIn`, `path` is the stand-in file's, already chosen. */
  symlink(path: string, target: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /**
   * For a target that cannot make links (a browser's folder handle) and writes a small file naming
   * the link's target instead: that file's path for the link at `path` (`attempt` 0), or another
   * one (`attempt` 1, 2, …) when a file of the backup already has that name. The export plans these
   * names with the backup's own, so no row overwrites another.
   */
  linkStandIn?(path: string, attempt: number): string;
}

export type Progress = (done: number, total: number, current?: string) => void;

/** Collects everything written, for small exports held in memory (e.g. a zip returned as a Blob). */
export class MemorySink implements ByteSink {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  async write(bytes: Uint8Array): Promise<void> {
    this.chunks.push(bytes.slice());
    this.length += bytes.length;
  }
  async close(): Promise<void> {}
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
