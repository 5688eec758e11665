import type { FileRead } from './file-read.ts';

/** The part of a worker's FileReaderSync a reader uses (not in the DOM typings this project builds with). */
interface SyncBlobReader {
  readAsArrayBuffer(blob: Blob): ArrayBuffer;
}

/**
 * Each read through FileReaderSync is a round trip to Chromium's browser process: ≈0.6 ms for anything up
 * to 64 KiB, and 3.5 ms for 1 MiB but 25 ms for 16 MiB (≈300 and ≈700 MB/s here). So a small read (a
 * page SQLite looks up) is served from an aligned 64 KiB block, whose neighbouring pages then cost
 * nothing, and a big one (SQLite's read-ahead in a scan) from an aligned 16 MiB stretch.
 */
const SMALL = { bytes: 64 * 1024, kept: 16 };
const LARGE = { bytes: 16 * 1024 * 1024, kept: 2 };

/** The last few aligned blocks of one size read from a Blob, in recency order (a Map keeps insertion order). */
class BlockCache {
  private readonly blocks = new Map<number, Uint8Array>();

  constructor(
    private readonly shape: { bytes: number; kept: number },
    private readonly readBytes: (start: number, end: number) => Uint8Array,
    private readonly size: number,
  ) {}

  /** Copies bytes [at, end) into `into` from the blocks; how many there were (fewer only if the file shrank). */
  read(into: Uint8Array, at: number, end: number): number {
    let done = 0;
    while (at + done < end) {
      const offset = at + done;
      const start = offset - (offset % this.shape.bytes);
      const bytes = this.block(start);
      const n = Math.min(end - offset, bytes.byteLength - (offset - start));
      if (n <= 0) break;
      into.set(bytes.subarray(offset - start, offset - start + n), done);
      done += n;
    }
    return done;
  }

  private block(start: number): Uint8Array {
    let bytes = this.blocks.get(start);
    if (bytes) {
      this.blocks.delete(start);
    } else {
      while (this.blocks.size >= this.shape.kept) this.blocks.delete(this.blocks.keys().next().value!);
      bytes = this.readBytes(start, Math.min(this.size, start + this.shape.bytes));
    }
    this.blocks.set(start, bytes);
    return bytes;
  }

  clear(): void {
    this.blocks.clear();
  }
}

/**
 * `blob` (a picked folder's File, which only answers with promises) read synchronously where the
 * runtime has FileReaderSync (a dedicated worker); null elsewhere (the page, Node). Once the file on disk
 * changes, Chromium refuses to read the File (NotReadableError), so a read throws rather than mix old
 * bytes with new. Closing it drops the kept blocks.
 *
 * A forward scan reads as fast as copying the file would, so SQLite can open a 1.19 GB Manifest.db in a
 * picked folder at once instead of after copying it.
 */
export function blobFileRead(blob: Blob): FileRead | null {
  const Reader = (globalThis as { FileReaderSync?: new () => SyncBlobReader }).FileReaderSync;
  if (!Reader) return null;
  const reader = new Reader();
  const size = blob.size;
  const readBytes = (start: number, end: number): Uint8Array => new Uint8Array(reader.readAsArrayBuffer(blob.slice(start, end)));
  const small = new BlockCache(SMALL, readBytes, size);
  const large = new BlockCache(LARGE, readBytes, size);
  return {
    size,
    read(into: Uint8Array, at: number): number {
      const end = Math.min(size, at + into.byteLength);
      if (at < 0 || end <= at) return 0;
      return (end - at < SMALL.bytes ? small : large).read(into, at, end);
    },
    close() {
      small.clear();
      large.clear();
    },
  };
}
