import type { ExportTarget } from './byte-sink.ts';
import { confinedParts } from '../../core/confined-path.ts';

/** The writable parts of File System Access handles (a picked folder or OPFS). */
export interface WritableFileHandleLike {
  createWritable(): Promise<{ write(data: Uint8Array): Promise<void>; close(): Promise<void> }>;
}
export interface WritableDirectoryHandleLike {
  getDirectoryHandle(name: string, options: { create: boolean }): Promise<WritableDirectoryHandleLike>;
  getFileHandle(name: string, options: { create: boolean }): Promise<WritableFileHandleLike>;
}

/**
 * Exports into a folder handle. Browsers cannot create symlinks, so a link becomes a small text file
 * naming its target (`<name>.symlink.txt`, or `<name>.symlink-2.txt` when the backup has a file of
 * that name), and nothing here can be followed; every name still goes through the gate.
 */
export class DirectoryHandleTarget implements ExportTarget {
  constructor(private readonly root: WritableDirectoryHandleLike) {}

  private async dir(parts: string[]): Promise<WritableDirectoryHandleLike> {
    let dir = this.root;
    for (const p of parts) dir = await dir.getDirectoryHandle(p, { create: true });
    return dir;
  }
  async mkdir(path: string): Promise<void> {
    await this.dir(confinedParts(path));
  }
  linkStandIn(path: string, attempt: number): string {
    return attempt === 0 ? `${path}.symlink.txt` : `${path}.symlink-${attempt + 1}.txt`;
  }
  /** `path` is the stand-in's, from linkStandIn (planned by the export). */
  async symlink(path: string, target: string): Promise<void> {
    await this.writeFile(path, new TextEncoder().encode(target));
  }
  async writeFile(path: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
    const parts = confinedParts(path);
    const name = parts.pop()!;
    const handle = await (await this.dir(parts)).getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    if (data instanceof Uint8Array) await writable.write(data);
    else for await (const chunk of data) await writable.write(chunk);
    await writable.close();
  }
}
