/** Where exports write: a WritableStream writer (browser file/OPFS) or a Node file; nothing else is assumed. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A folder being written by an export; paths are "/"-separated and relative to it. */
export interface ExportTarget {
  writeFile(path: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void>;
  symlink(path: string, target: string): Promise<void>;
  mkdir(path: string): Promise<void>;
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
