import type { DirectoryEntry, EntryStat, FileRead, FileSink, FileSinkNow } from './storage-backend.ts';

/**
 * What the backup engine and the library see of a store. Paths inside a tree are relative to the
 * device's folder (`Manifest.db`, `3d/3d0d…`), never to the store root.
 */
export interface BackupTree {
  stat(path: string): Promise<EntryStat | null>;
  /** One directory level with sizes and dates; throws StoreError ENOENT/ENOTDIR. */
  list(path: string): Promise<(DirectoryEntry & EntryStat)[]>;
  /** Streams a file; chunks are at most `chunkSize` bytes (`scratch`: see StorageBackend.read). */
  read(path: string, chunkSize?: number, scratch?: Uint8Array): AsyncIterable<Uint8Array>;
  /** Whole file; for small files such as plists. */
  readFile(path: string): Promise<Uint8Array>;
  /** Bytes [start, end) of a file, clamped to its size (random access for the library's SQLite reads). */
  readRange(path: string, start: number, end: number): Promise<Uint8Array>;
  /** The file as a Blob when the store keeps it in a browser file of its own (see StorageBackend.fileBlob); else null. */
  fileBlob?(path: string): Promise<Blob | null>;
  /** The file open for synchronous reads where it lies, when the store keeps it in a file of its own (see StorageBackend.fileRead); else null. */
  fileRead?(path: string): Promise<FileRead | null>;
}

/**
 * One backup being written. Everything goes to staging; the last complete backup stays untouched
 * until `commit()`, which is a metadata switch followed by an idempotent roll-forward.
 */
export interface BackupSession extends BackupTree {
  readonly udid: string;
  /** Streamed write: append chunks, then `close()` publishes the file, `abort()` drops it. */
  createFile(path: string): Promise<FileSink>;
  /**
   * createFile without a promise, where the store can (see StorageBackend.createFileNow); null when
   * this file needs the asynchronous path (use createFile).
   */
  createFileNow?(path: string): FileSinkNow | null;
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  mkdirp(path: string): Promise<void>;
  /** Replaces `to` if present (file or tree), creating its parent. */
  move(from: string, to: string): Promise<void>;
  /** move done without a promise, where the store can; false (nothing done) when it needs move(). */
  moveNow?(from: string, to: string): boolean;
  /** Recursive; a missing path is success. */
  remove(path: string): Promise<void>;
  /** Copies a file or a whole tree, replacing `to`. */
  copy(from: string, to: string): Promise<void>;
  freeSpace(): Promise<number>;
  /** Makes staged changes durable so a resume after an unplug sees them. Call before acknowledging the device. */
  sync(): Promise<void>;
  /** Publishes the staged backup as the current one and keeps the previous one as a version. */
  commit(): Promise<void>;
  /** After commit(): what the person should hear about the store's housekeeping (an earlier backup it could not delete). */
  warnings?(): readonly string[];
  /** Throws the staged backup away. */
  discard(): Promise<void>;
  /** Ends the session but keeps staging, so a later `openSession(udid, { resume: true })` continues it. */
  suspend(): Promise<void>;
}

export interface BackupVersion {
  id: string;
  /** When that backup was completed. */
  date: Date;
}

export interface BackupStore {
  readonly kind: 'node-fs' | 'opfs' | 'folder';
  /**
   * Starts (or with `resume`, continues) a backup of `udid`. Without `resume` any interrupted staging
   * is discarded first. Only one session per device at a time.
   */
  openSession(udid: string, options?: { resume?: boolean }): Promise<BackupSession>;
  hasInterruptedBackup(udid: string): Promise<boolean>;
  discardInterrupted(udid: string): Promise<void>;
  /** Deletes the device's current backup, its earlier versions and any interrupted backup. */
  deleteDevice(udid: string): Promise<void>;
  /** The last complete backup, or null if there is none. */
  current(udid: string): Promise<BackupTree | null>;
  /** Earlier complete backups, newest first. */
  listVersions(udid: string): Promise<BackupVersion[]>;
  openVersion(udid: string, id: string): Promise<BackupTree>;
  /** Device folders that hold a complete backup. */
  listDevices(): Promise<string[]>;
  /**
   * Bytes of the device's latest complete backup, when the store can tell without reading it
   * (the packed store's catalogue): about the room a full backup of it needs, for "storage full".
   */
  latestBackupBytes?(udid: string): number | undefined;
}
