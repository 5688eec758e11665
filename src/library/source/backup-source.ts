import type { FileRead } from '../../core/file-read.ts';

/**
 * The read seam every backup location implements: a Node folder, a browser directory handle
 * (OPFS or a picked folder) or a zip file. Paths are "/"-separated and relative to the source
 * root ("" is the root). Everything above this seam is storage-agnostic.
 */
export interface SourceEntry {
  name: string;
  kind: 'file' | 'directory';
}

export interface SourceStat {
  kind: 'file' | 'directory';
  size: number;
}

export interface BackupSource {
  /** For messages: where the backup is read from. */
  readonly label: string;
  /** Children of a directory; throws MissingBackupFileError if it does not exist. */
  list(path: string): Promise<SourceEntry[]>;
  /** null when nothing is at that path. */
  stat(path: string): Promise<SourceStat | null>;
  /** Whole file; meant for small files (plists, databases). */
  readFile(path: string): Promise<Uint8Array>;
  /** Bytes [start, end) of a file. */
  readRange(path: string, start: number, end: number): Promise<Uint8Array>;
  /** The file in chunks, for large payloads. */
  stream(path: string, chunkSize?: number): AsyncIterable<Uint8Array>;
  /**
   * The file as a Blob, when the source has it as one (a browser file; null or absent otherwise):
   * read with `blobChunks`, a big file needs no fresh memory per chunk.
   */
  fileBlob?(path: string): Promise<Blob | null>;
  /**
   * The file open for synchronous reads where it lies (a Node file, an OPFS file read through a
   * read-only sync access handle; null or absent otherwise): SQLite can then query a database in
   * place instead of a copy in its memory. The caller closes it.
   */
  fileRead?(path: string): Promise<FileRead | null>;
}

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

/** A view of another source rooted at one of its subfolders (the `<UDID>` folder inside `Backup/`). */
export class SubdirectorySource implements BackupSource {
  readonly label: string;
  constructor(
    private readonly inner: BackupSource,
    private readonly prefix: string,
  ) {
    this.label = prefix === '' ? inner.label : `${inner.label}/${prefix}`;
  }
  private at(path: string): string {
    if (this.prefix === '') return path;
    return path === '' ? this.prefix : `${this.prefix}/${path}`;
  }
  list(path: string) {
    return this.inner.list(this.at(path));
  }
  stat(path: string) {
    return this.inner.stat(this.at(path));
  }
  readFile(path: string) {
    return this.inner.readFile(this.at(path));
  }
  readRange(path: string, start: number, end: number) {
    return this.inner.readRange(this.at(path), start, end);
  }
  stream(path: string, chunkSize?: number) {
    return this.inner.stream(this.at(path), chunkSize);
  }
  async fileBlob(path: string): Promise<Blob | null> {
    return (await this.inner.fileBlob?.(this.at(path))) ?? null;
  }
  async fileRead(path: string): Promise<FileRead | null> {
    return (await this.inner.fileRead?.(this.at(path))) ?? null;
  }
}

/** Streams a file through readRange; for sources without a native stream. */
export async function* streamByRanges(
  source: Pick<BackupSource, 'readRange'>,
  path: string,
  size: number,
  chunkSize: number,
): AsyncIterable<Uint8Array> {
  for (let at = 0; at < size; at += chunkSize) {
    yield await source.readRange(path, at, Math.min(size, at + chunkSize));
  }
}
