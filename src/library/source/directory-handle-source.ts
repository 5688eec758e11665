import { DEFAULT_CHUNK_SIZE, type BackupSource, type SourceEntry, type SourceStat } from './backup-source.ts';
import { MissingBackupFileError, normalisePath } from '../errors.ts';
import { openReadOnlyAccess, type FileRead, type SyncReadableHandle } from '../../core/file-read.ts';

/**
 * The File System Access shapes we use, declared structurally so OPFS handles, picked-folder
 * handles and test doubles all fit without depending on which DOM lib version declares `entries()`.
 */
export interface FileHandleLike extends SyncReadableHandle {
  readonly kind: 'file';
  readonly name: string;
  getFile(): Promise<Blob>;
}
export interface DirectoryHandleLike {
  readonly kind: 'directory';
  readonly name: string;
  getDirectoryHandle(name: string): Promise<DirectoryHandleLike>;
  getFileHandle(name: string): Promise<FileHandleLike>;
  values(): AsyncIterable<FileHandleLike | DirectoryHandleLike>;
  /** Whether both handles are one folder (handles passed to a worker are new objects each time). */
  isSameEntry?(other: DirectoryHandleLike): Promise<boolean>;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NotFoundError' || name === 'TypeMismatchError' || name === 'TypeError';
}

/** A backup in OPFS or in a folder the person picked with showDirectoryPicker(). */
export class DirectoryHandleSource implements BackupSource {
  readonly label: string;
  constructor(private readonly root: DirectoryHandleLike) {
    this.label = root.name || 'folder';
  }

  private async directory(path: string): Promise<DirectoryHandleLike> {
    let dir = this.root;
    for (const part of normalisePath(path).split('/').filter(Boolean)) dir = await dir.getDirectoryHandle(part);
    return dir;
  }

  private async handle(path: string): Promise<FileHandleLike> {
    const parts = normalisePath(path).split('/');
    const name = parts.pop()!;
    try {
      const dir = await this.directory(parts.join('/'));
      return await dir.getFileHandle(name);
    } catch (error) {
      if (isNotFound(error)) throw new MissingBackupFileError(path);
      throw error;
    }
  }

  private async file(path: string): Promise<Blob> {
    const handle = await this.handle(path);
    try {
      return await handle.getFile();
    } catch (error) {
      if (isNotFound(error)) throw new MissingBackupFileError(path);
      throw error;
    }
  }

  /**
   * An OPFS file (a backup copied into the browser) open read-only for synchronous reads, shared with
   * other readers, when this runs in a worker; null for a picked folder's file or on the page.
   */
  async fileRead(path: string): Promise<FileRead | null> {
    const opened = await openReadOnlyAccess(await this.handle(path), { shared: true });
    if (!opened) return null;
    const { access, size } = opened;
    return { size, read: (into, at) => access.read(into, { at }), close: () => access.close() };
  }

  async list(path: string): Promise<SourceEntry[]> {
    let dir: DirectoryHandleLike;
    try {
      dir = await this.directory(path);
    } catch (error) {
      if (isNotFound(error)) throw new MissingBackupFileError(path || '.');
      throw error;
    }
    const out: SourceEntry[] = [];
    for await (const handle of dir.values()) out.push({ name: handle.name, kind: handle.kind });
    return out;
  }

  async stat(path: string): Promise<SourceStat | null> {
    const clean = normalisePath(path);
    if (clean === '') return { kind: 'directory', size: 0 };
    const parts = clean.split('/');
    const name = parts.pop()!;
    let parent: DirectoryHandleLike;
    try {
      parent = await this.directory(parts.join('/'));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    try {
      const blob = await (await parent.getFileHandle(name)).getFile();
      return { kind: 'file', size: blob.size };
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    try {
      await parent.getDirectoryHandle(name);
      return { kind: 'directory', size: 0 };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.file(path)).arrayBuffer());
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    return new Uint8Array(await (await this.file(path)).slice(start, end).arrayBuffer());
  }

  fileBlob(path: string): Promise<Blob> {
    return this.file(path);
  }

  async *stream(path: string, chunkSize = DEFAULT_CHUNK_SIZE): AsyncIterable<Uint8Array> {
    const blob = await this.file(path);
    // Slicing keeps chunks a predictable size (Blob.stream() chunks are tiny in some engines).
    for (let at = 0; at < blob.size; at += chunkSize) {
      yield new Uint8Array(await blob.slice(at, Math.min(blob.size, at + chunkSize)).arrayBuffer());
    }
  }
}
