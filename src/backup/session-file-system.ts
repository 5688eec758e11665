import type { DeviceLinkFileSystem } from '../services/mobilebackup2.ts';
import { StoreError } from '../stores/errors.ts';
import type { BackupSession } from '../stores/backup-store.ts';
import type { FileSink, FileSinkNow } from '../stores/storage-backend.ts';

/**
 * Serves the device's DL file requests from a backup session. The device names everything relative
 * to the backup root (`<UDID>/Status.plist`); only this device's folder is reachable.
 */
export class SessionFileSystem implements DeviceLinkFileSystem {
  constructor(
    private readonly session: BackupSession,
    private readonly purgeHandler?: (bytes: number) => Promise<boolean>,
  ) {}

  private map(devicePath: string): string {
    const udid = this.session.udid;
    let p = devicePath;
    while (p.startsWith('/')) p = p.slice(1);
    if (p.endsWith('/')) p = p.slice(0, -1);
    if (p === udid) return '';
    if (p.startsWith(`${udid}/`)) return p.slice(udid.length + 1);
    throw new StoreError('ENOENT', devicePath, `outside the folder of ${udid}`);
  }

  createFile(path: string): Promise<FileSink> {
    return this.session.createFile(this.map(path));
  }

  createFileNow(path: string): FileSinkNow | null {
    return this.session.createFileNow?.(this.map(path)) ?? null;
  }

  read(path: string, chunkSize: number, scratch?: Uint8Array): AsyncIterable<Uint8Array> {
    return this.session.read(this.map(path), chunkSize, scratch);
  }

  list(path: string): ReturnType<DeviceLinkFileSystem['list']> {
    return this.session.list(this.map(path));
  }

  mkdirp(path: string): Promise<void> {
    return this.session.mkdirp(this.map(path));
  }

  move(from: string, to: string): Promise<void> {
    return this.session.move(this.map(from), this.map(to));
  }

  moveNow(from: string, to: string): boolean {
    return this.session.moveNow?.(this.map(from), this.map(to)) ?? false;
  }

  remove(path: string): Promise<void> {
    return this.session.remove(this.map(path));
  }

  copy(from: string, to: string): Promise<void> {
    return this.session.copy(this.map(from), this.map(to));
  }

  freeSpace(): Promise<number> {
    return this.session.freeSpace();
  }

  async purge(bytes: number): Promise<boolean> {
    return this.purgeHandler ? this.purgeHandler(bytes) : false;
  }

  sync(): Promise<void> {
    return this.session.sync();
  }
}
