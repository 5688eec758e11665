import { StoreError } from '../stores/errors.ts';
import type { BackupTree } from '../stores/backup-store.ts';
import { MissingBackupFileError } from '../library/errors.ts';
import type { BackupSource, SourceEntry, SourceStat } from '../library/source/backup-source.ts';
import { collectBytes } from '../core/bytes.ts';

/**
 * What a restore reads: one device's backup folder (Info/Manifest/Status.plist, Manifest.db,
 * xx/<fileID>), paths relative to it. Read-only by design: a restore never changes the backup.
 */
export interface RestoreSource {
  /** For messages: where the backup is read from. */
  readonly label: string;
  /** null when nothing is at that path. */
  stat(path: string): Promise<SourceStat | null>;
  /** One directory level; throws when the folder does not exist. */
  list(path: string): Promise<SourceEntry[]>;
  /** The file in chunks of at most `chunkSize` bytes. */
  read(path: string, chunkSize: number): AsyncIterable<Uint8Array>;
  /** Bytes [start, end) of a file, clamped to its size: Manifest.db is checked where it lies, a window at a time. */
  readRange(path: string, start: number, end: number): Promise<Uint8Array>;
}

/** A Lifeboat store's backup (`BackupStore.current(udid)` or a version). */
export function restoreSourceFromTree(tree: BackupTree, label = 'Lifeboat backup'): RestoreSource {
  return {
    label,
    async stat(path) {
      const s = await tree.stat(path);
      return s ? { kind: s.kind, size: s.size } : null;
    },
    async list(path) {
      return (await tree.list(path)).map((e) => ({ name: e.name, kind: e.kind }));
    },
    read(path, chunkSize) {
      return tree.read(path, chunkSize);
    },
    readRange(path, start, end) {
      return tree.readRange(path, start, end);
    },
  };
}

/** Any backup the library can open: a Finder/idevicebackup2 folder on disk, OPFS, a picked folder. */
export function restoreSourceFromLibrary(source: BackupSource): RestoreSource {
  return {
    label: source.label,
    stat: (path) => source.stat(path),
    list: (path) => source.list(path),
    read: (path, chunkSize) => source.stream(path, chunkSize),
    readRange: (path, start, end) => source.readRange(path, start, end),
  };
}

/** The library's read seam over a restore source, so BackupReader can check and unlock it. */
export function librarySourceOf(source: RestoreSource): BackupSource {
  const readAll = async (path: string): Promise<Uint8Array> => {
    try {
      return await collectBytes(source.read(path, 1 << 20));
    } catch (error) {
      if (isMissing(error)) throw new MissingBackupFileError(path);
      throw error;
    }
  };
  return {
    label: source.label,
    list: (path) => source.list(path),
    stat: (path) => source.stat(path),
    readFile: readAll,
    async readRange(path, start, end) {
      try {
        return await source.readRange(path, start, end);
      } catch (error) {
        if (isMissing(error)) throw new MissingBackupFileError(path);
        throw error;
      }
    },
    stream: (path, chunkSize) => source.read(path, chunkSize ?? 1 << 20),
  };
}

function isMissing(error: unknown): boolean {
  if (error instanceof MissingBackupFileError) return true;
  if (error instanceof StoreError) return error.errno === 'ENOENT';
  return (error as { code?: unknown })?.code === 'ENOENT';
}
