/**
 * The few primitives a versioned backup store needs from a platform file system. Node fs and the
 * File System Access API (OPFS or a picked folder) each implement it once; all the staging,
 * commit and versioning logic lives above it in VersionedBackupStore.
 */
import { concatBytes } from '../core/bytes.ts';
import type { FileRead } from '../core/file-read.ts';

export type { FileRead };

export type EntryKind = 'file' | 'directory';

export interface EntryStat {
  kind: EntryKind;
  /** Bytes for files, 0 for directories. */
  size: number;
  mtime: Date;
}

export interface DirectoryEntry {
  name: string;
  kind: EntryKind;
}

/**
 * A file being written: chunks are appended in order. Whether part of it shows under its name before
 * it is closed depends on the backend (see StorageBackend.closesWhole).
 */
export interface FileSink {
  write(chunk: Uint8Array): Promise<void>;
  /**
   * True when a sink is done with a chunk once its write resolves (it wrote or copied the bytes), so
   * the caller may reuse the chunk's memory. Absent: the sink may keep the chunk (a store batching
   * small files does).
   */
  readonly chunksReusable?: boolean;
  /** Flush and close; the file is complete. */
  close(): Promise<void>;
  /** Close and delete what was written. */
  abort(): Promise<void>;
}

/**
 * A file being written whose every call has done its work when it returns (see
 * StorageBackend.createFileNow): the caller may reuse a chunk as soon as writeNow returns.
 */
export interface FileSinkNow {
  writeNow(chunk: Uint8Array): void;
  /** The file is complete. */
  closeNow(): void;
  /** Closes and deletes what was written; throws only when the deleting failed. */
  abortNow(): void;
}

/** A small file kept open for appending, by its one writer (see StorageBackend.openLog). */
export interface AppendLog {
  /** Written when it returns: the caller may reuse `bytes`. */
  append(bytes: Uint8Array): void;
  /** Empties the file, then writes `bytes` (may be empty). */
  reset(bytes: Uint8Array): void;
  close(): void;
}

export interface StorageBackend {
  /** null when nothing exists at `path`. */
  stat(path: string): Promise<EntryStat | null>;
  /** One level; throws StoreError ENOENT / ENOTDIR. */
  list(path: string): Promise<DirectoryEntry[]>;
  /**
   * The kind `list` of its folder would give the entry at `path`, or null when it has none (the
   * folder missing included): a commit asks about a few dozen names in folders of thousands.
   */
  entryKind?(path: string): Promise<EntryKind | null>;
  /** Creates every missing directory; an existing directory is fine, a file in the way is ENOTDIR/EEXIST. */
  mkdirp(path: string): Promise<void>;
  /** Creates or truncates `path` (parent must exist). */
  createFile(path: string): Promise<FileSink>;
  /**
   * createFile, rename and stat's kind without a promise, where the platform's calls are synchronous
   * anyway (Node): a backup of a million small files spent more of its CPU on the promises around each
   * call than on the calls. They throw the StoreErrors their asynchronous twins reject with.
   */
  createFileNow?(path: string): FileSinkNow;
  renameNow?(from: string, to: string): void;
  /** stat(path)?.kind ?? null. */
  statKindNow?(path: string): EntryKind | null;
  /**
   * Streams the file in chunks of at most `chunkSize` bytes. With `scratch` (at least `chunkSize`
   * bytes) a backend may read into it and yield views of it, each valid only until the next chunk is
   * asked for: for a caller that copies every chunk anyway (framing), reused memory instead of fresh.
   */
  read(path: string, chunkSize: number, scratch?: Uint8Array): AsyncIterable<Uint8Array>;
  readAll(path: string): Promise<Uint8Array>;
  /** Bytes [start, end) of a file, clamped to its size; backends without it are read through `read`. */
  readRange?(path: string, start: number, end: number): Promise<Uint8Array>;
  /**
   * The file as a Blob of exactly its bytes, when the backend keeps it in a browser file that no
   * longer changes (null otherwise: use `read`). Lets a big file be streamed into one reused buffer.
   */
  fileBlob?(path: string): Promise<Blob | null>;
  /**
   * The file open for synchronous reads where it lies (see FileRead), when the backend keeps it in a
   * file of its own that no longer changes; null otherwise.
   */
  fileRead?(path: string): Promise<FileRead | null>;
  /** Appends to (or creates) a small file; used for journals. */
  append(path: string, bytes: Uint8Array): Promise<void>;
  /**
   * True when a file being written exists under its name only once its sink has closed, and after an
   * unplug only if it closed before the last flush (the packed store). A session then writes each new
   * file straight to its place: no unplug can leave part of one there.
   */
  readonly closesWhole?: boolean;
  /**
   * Creates (or empties) `path` and keeps it open for appends that cost one write each, where an
   * append is cheap enough to make per file (Node); absent where each would be a round trip.
   */
  openLog?(path: string): Promise<AppendLog>;
  /** Renames a file or directory; `to` must not exist and its parent must. */
  rename(from: string, to: string): Promise<void>;
  /** Deletes a file or directory tree; a missing path is not an error. */
  remove(path: string): Promise<void>;
  /** Writes out anything the backend buffers, so it survives an unplug (the packed store batches writes). */
  flush?(): Promise<void>;
  /** Bytes the device may assume it can write (policy per backend; see README). */
  freeSpace(): Promise<number>;
}

export async function writeWhole(backend: StorageBackend, path: string, bytes: Uint8Array): Promise<void> {
  const sink = await backend.createFile(path);
  try {
    await sink.write(bytes);
  } catch (e) {
    await sink.abort();
    throw e;
  }
  await sink.close();
}

/** Bytes [start, end) of `path` through `readRange` when the backend has it, else by streaming. */
export async function readRangeOf(backend: StorageBackend, path: string, start: number, end: number): Promise<Uint8Array> {
  if (backend.readRange) return backend.readRange(path, start, end);
  const chunks: Uint8Array[] = [];
  let at = 0;
  let total = 0;
  for await (const chunk of backend.read(path, 1024 * 1024)) {
    const from = Math.max(start - at, 0);
    const to = Math.min(end - at, chunk.byteLength);
    if (to > from) {
      chunks.push(chunk.subarray(from, to));
      total += to - from;
    }
    at += chunk.byteLength;
    if (at >= end) break;
  }
  return concatBytes(chunks);
}
