import type { BackupTree } from '../../stores/backup-store.ts';
import { StoreError } from '../../stores/errors.ts';
import type { FileRead } from '../../core/file-read.ts';
import { MissingBackupFileError } from '../errors.ts';
import { DEFAULT_CHUNK_SIZE, type BackupSource, type SourceEntry, type SourceStat } from './backup-source.ts';

/**
 * A Lifeboat store's backup (the current one or an earlier version, from BackupStore.current() or
 * openVersion()) as a library source. The tree is already rooted at the device's folder, so paths
 * here are "Manifest.db", "3d/3d0d…" like any other backup folder.
 */
export class StoreTreeSource implements BackupSource {
  constructor(
    private readonly tree: BackupTree,
    readonly label: string,
  ) {}

  private missing(e: unknown, path: string): never {
    if (e instanceof StoreError && (e.errno === 'ENOENT' || e.errno === 'ENOTDIR')) throw new MissingBackupFileError(path);
    throw e;
  }

  async list(path: string): Promise<SourceEntry[]> {
    try {
      return (await this.tree.list(path)).map((e) => ({ name: e.name, kind: e.kind }));
    } catch (e) {
      return this.missing(e, path);
    }
  }

  async stat(path: string): Promise<SourceStat | null> {
    const st = await this.tree.stat(path);
    return st ? { kind: st.kind, size: st.size } : null;
  }

  async readFile(path: string): Promise<Uint8Array> {
    try {
      return await this.tree.readFile(path);
    } catch (e) {
      return this.missing(e, path);
    }
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    try {
      return await this.tree.readRange(path, start, end);
    } catch (e) {
      return this.missing(e, path);
    }
  }

  async fileBlob(path: string): Promise<Blob | null> {
    try {
      return (await this.tree.fileBlob?.(path)) ?? null;
    } catch (e) {
      return this.missing(e, path);
    }
  }

  async fileRead(path: string): Promise<FileRead | null> {
    try {
      return (await this.tree.fileRead?.(path)) ?? null;
    } catch (e) {
      return this.missing(e, path);
    }
  }

  async *stream(path: string, chunkSize = DEFAULT_CHUNK_SIZE): AsyncIterable<Uint8Array> {
    try {
      yield* this.tree.read(path, chunkSize);
    } catch (e) {
      this.missing(e, path);
    }
  }
}
