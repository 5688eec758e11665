import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteSink, ExportTarget } from '../export/byte-sink.ts';
import { PathRefusedError, confinedParts } from '../../core/confined-path.ts';

/** A Node file as a ByteSink, with back-pressure; abort() closes it and removes the partial file. */
export function fileSink(path: string): ByteSink & { abort(): Promise<void> } {
  const stream = createWriteStream(path);
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        stream.write(bytes, (error) => (error ? reject(error) : resolve()));
      }),
    close: () => new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve()))),
    abort: async () => {
      if (!stream.closed) await new Promise<void>((resolve) => stream.destroy().once('close', () => resolve()));
      await rm(path, { force: true });
    },
  };
}

/** A new file only: never opened through a symlink, never into an existing inode (a hard link). */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Exports into a folder on disk (CLI extract, tests). Every path goes through the confinement gate,
 * and nothing already on disk is followed: a folder on the way that is a symlink (left by an earlier
 * extract, or planted) refuses the row; files are created fresh with O_NOFOLLOW.
 */
export class NodeFsTarget implements ExportTarget {
  /** Folders this run created or checked, so each is lstat'ed once. */
  private readonly checked = new Set<string>();

  constructor(private readonly root: string) {}

  /** Creates (or checks) every folder of `parts`, refusing one that is a symlink or a file. */
  private async folders(path: string, parts: string[]): Promise<string> {
    let at = this.root;
    if (!this.checked.has('')) {
      await mkdir(this.root, { recursive: true });
      this.checked.add('');
    }
    for (let i = 0; i < parts.length; i++) {
      at = join(at, parts[i]!);
      const key = parts.slice(0, i + 1).join('/');
      if (this.checked.has(key)) continue;
      let st = await lstatOrNull(at);
      if (!st) {
        try {
          await mkdir(at);
        } catch (error) {
          if ((error as { code?: string }).code !== 'EEXIST') throw error;
        }
        st = await lstat(at);
      }
      if (st.isSymbolicLink()) throw new PathRefusedError(path, 'through-symlink', `“${key}” is a symlink in the output folder`);
      if (!st.isDirectory()) throw new PathRefusedError(path, 'collision', `“${key}” is a file in the output folder`);
      this.checked.add(key);
    }
    return at;
  }

  /** The parent folder, made safe, and the full path of the last part, cleared of anything but a folder. */
  private async place(path: string): Promise<string> {
    const parts = confinedParts(path);
    const name = parts.pop()!;
    const full = join(await this.folders(path, parts), name);
    const existing = await lstatOrNull(full);
    if (existing?.isDirectory()) throw new PathRefusedError(path, 'collision', 'a folder of that name is in the output folder');
    if (existing) await unlink(full);
    return full;
  }

  async mkdir(path: string): Promise<void> {
    await this.folders(path, confinedParts(path));
  }

  async symlink(path: string, target: string): Promise<void> {
    if (target.includes('\0')) throw new PathRefusedError(path, 'nul', 'in the link target');
    await symlink(target, await this.place(path));
  }

  async writeFile(path: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
    const full = await this.place(path);
    // Written through the descriptor made here, never reopened by name, so nothing swapped in can redirect it.
    const handle = await open(full, CREATE_NEW, 0o644);
    try {
      const chunks = data instanceof Uint8Array ? [data] : data;
      for await (const chunk of chunks) {
        let done = 0;
        while (done < chunk.byteLength) done += (await handle.write(chunk, done, chunk.byteLength - done)).bytesWritten;
      }
      await handle.close();
    } catch (error) {
      // A payload that fails half-way (damaged, cancelled) must not leave an open descriptor or a
      // truncated file that looks like a good copy.
      await handle.close().catch(() => undefined);
      await rm(full, { force: true });
      throw error;
    }
  }
}
