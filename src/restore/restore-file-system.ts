import { MissingBackupFileError } from '../library/errors.ts';
import type { DeviceLinkFileSystem } from '../services/mobilebackup2.ts';
import type { UploadSink } from '../services/devicelink-files.ts';
import { StoreError } from '../stores/errors.ts';
import { PathRefusedError, confinedParts } from '../core/confined-path.ts';
import type { RestoreSource } from './restore-source.ts';

/**
 * Serves the device's DL requests during a restore from a read-only backup. The device names files
 * `<SourceIdentifier>/Manifest.db`, `<SourceIdentifier>/3d/3d0d…`; only that folder is reachable.
 * Writes, moves and removes are refused (-1, read-only): a restore must never change the backup.
 */
export class RestoreFileSystem implements DeviceLinkFileSystem {
  /** Requests we refused, for the engine's warnings. */
  readonly refused: string[] = [];

  constructor(
    private readonly source: RestoreSource,
    private readonly sourceIdentifier: string,
    /** Called once per file fully handed to the device. */
    private readonly onFileSent?: (path: string) => void,
  ) {}

  private map(devicePath: string): string {
    let p = devicePath;
    while (p.startsWith('/')) p = p.slice(1);
    while (p.endsWith('/')) p = p.slice(0, -1);
    const id = this.sourceIdentifier;
    let rest: string | undefined;
    if (p === id) rest = '';
    else if (p.startsWith(`${id}/`)) rest = p.slice(id.length + 1);
    if (rest === undefined) throw new StoreError('ENOENT', devicePath, `outside the backup of ${id}`);
    try {
      return confinedParts(rest, { strict: false }).join('/');
    } catch (error) {
      if (error instanceof PathRefusedError) throw new StoreError('ENOENT', devicePath, `outside the backup of ${id}`, error);
      throw error;
    }
  }

  async *read(path: string, chunkSize: number): AsyncIterable<Uint8Array> {
    const local = this.map(path);
    // Read first and stat only when that fails or finds nothing: a stat per file was a sixth of a
    // restore's CPU, and the device asks only for files the manifest lists.
    let sent = 0;
    try {
      for await (const chunk of this.source.read(local, chunkSize)) {
        sent += chunk.byteLength;
        yield chunk;
      }
    } catch (error) {
      if (sent === 0) await this.mustBeFile(path, local);
      if (error instanceof MissingBackupFileError) throw new StoreError('ENOENT', path, undefined, error);
      throw error;
    }
    if (sent === 0) await this.mustBeFile(path, local);
    this.onFileSent?.(path);
  }

  /** Throws the DeviceLink-facing error for a path that is missing or a folder. */
  private async mustBeFile(path: string, local: string): Promise<void> {
    const stat = await this.source.stat(local);
    if (!stat) throw new StoreError('ENOENT', path);
    if (stat.kind !== 'file') throw new StoreError('EISDIR', path);
  }

  async list(path: string): ReturnType<DeviceLinkFileSystem['list']> {
    const local = this.map(path);
    if (!(await this.source.stat(local))) throw new StoreError('ENOENT', path);
    const out = [];
    for (const entry of await this.source.list(local)) {
      const child = local === '' ? entry.name : `${local}/${entry.name}`;
      const stat = await this.source.stat(child);
      out.push({ name: entry.name, kind: entry.kind, size: stat?.size ?? 0, mtime: new Date(0) });
    }
    return out;
  }

  private refuse(what: string, path: string): Promise<never> {
    this.refused.push(`${what} ${path}`);
    return Promise.reject(new StoreError('EACCES', path, 'the backup is read-only during a restore'));
  }

  createFile(path: string): Promise<UploadSink> {
    return this.refuse('write', path);
  }

  mkdirp(path: string): Promise<void> {
    return this.refuse('create folder', path);
  }

  move(from: string, to: string): Promise<void> {
    return this.refuse('move', `${from} → ${to}`);
  }

  remove(path: string): Promise<void> {
    return this.refuse('remove', path);
  }

  copy(from: string, to: string): Promise<void> {
    return this.refuse('copy', `${from} → ${to}`);
  }

  /** The device never needs host space to restore; nothing may be written here anyway. */
  async freeSpace(): Promise<number> {
    return 0;
  }

  async sync(): Promise<void> {}
}
