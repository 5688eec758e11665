import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { PathRefusedError } from '../../core/confined-path.ts';
import { DEFAULT_CHUNK_SIZE, type BackupSource, type SourceEntry, type SourceStat } from '../source/backup-source.ts';
import { MissingBackupFileError, normalisePath } from '../errors.ts';
import type { FileRead } from '../../core/file-read.ts';

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A backup folder on the local disk (CLI, tests). */
export class NodeFsSource implements BackupSource {
  readonly label: string;
  constructor(private readonly root: string) {
    this.label = root;
  }

  private realRoot: Promise<string> | undefined;
  /** Folders already resolved inside the root, so each costs one realpath per source. */
  private readonly insideDirs = new Set<string>();

  /**
   * A folder on disk, refused when it resolves outside the backup folder: a backup unpacked by
   * another tool can hold symlinks (to ~/.ssh, say), and a restore would hand their target to the device.
   */
  private async folder(path: string, full: string): Promise<string> {
    if (this.insideDirs.has(full)) return full;
    this.realRoot ??= realpath(this.root);
    const [root, real] = await Promise.all([this.realRoot, realpath(full)]);
    if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) throw new PathRefusedError(path, 'through-symlink', 'it leads out of the backup folder');
    this.insideDirs.add(full);
    return full;
  }

  /** A file (or folder) path whose folder is inside the root; the last part itself is never followed (lstat, O_NOFOLLOW). */
  private async full(path: string): Promise<string> {
    const clean = normalisePath(path);
    const full = join(this.root, clean);
    if (clean === '') return this.folder(path, full);
    await this.folder(path, dirname(full));
    return full;
  }

  /** Opens a file for reading without following a symlink in its last part. */
  private async openFile(path: string) {
    try {
      return await open(await this.full(path), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (error) {
      if ((error as { code?: string }).code === 'ELOOP') throw new PathRefusedError(path, 'through-symlink', 'it is a symlink');
      throw error;
    }
  }

  /** The file open for synchronous reads (SQLite reads a database in place through it). */
  async fileRead(path: string): Promise<FileRead | null> {
    let fd: number;
    try {
      fd = openSync(await this.full(path), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (error) {
      if ((error as { code?: string }).code === 'ELOOP') throw new PathRefusedError(path, 'through-symlink', 'it is a symlink');
      if (isNotFound(error)) throw new MissingBackupFileError(path);
      throw error;
    }
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return null;
    }
    let open = true;
    return {
      size: st.size,
      read: (into, at) => readSync(fd, into, 0, into.byteLength, at),
      close: () => {
        // Once only: a second close could close a descriptor reused by someone else since.
        if (!open) return;
        open = false;
        closeSync(fd);
      },
    };
  }

  async list(path: string): Promise<SourceEntry[]> {
    try {
      const full = join(this.root, normalisePath(path));
      const entries = await readdir(await this.folder(path, full), { withFileTypes: true });
      return entries
        .filter((e) => e.isFile() || e.isDirectory())
        .map((e) => ({ name: e.name, kind: e.isDirectory() ? ('directory' as const) : ('file' as const) }));
    } catch (error) {
      if (isNotFound(error)) throw new MissingBackupFileError(path || '.');
      throw error;
    }
  }

  async stat(path: string): Promise<SourceStat | null> {
    try {
      // The root itself may be a link (a Backup folder moved to another disk); nothing below it may.
      const s = normalisePath(path) === '' ? await stat(await this.full(path)) : await lstat(await this.full(path));
      if (s.isSymbolicLink()) throw new PathRefusedError(path, 'through-symlink', 'it is a symlink');
      return { kind: s.isDirectory() ? 'directory' : 'file', size: s.size };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    try {
      const handle = await this.openFile(path);
      try {
        const b = await handle.readFile();
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (isNotFound(error)) throw new MissingBackupFileError(path);
      throw error;
    }
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    let handle;
    try {
      handle = await this.openFile(path);
    } catch (error) {
      if (isNotFound(error)) throw new MissingBackupFileError(path);
      throw error;
    }
    try {
      const out = new Uint8Array(Math.max(0, end - start));
      let filled = 0;
      while (filled < out.length) {
        const { bytesRead } = await handle.read(out, filled, out.length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return out.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  async *stream(path: string, chunkSize = DEFAULT_CHUNK_SIZE): AsyncIterable<Uint8Array> {
    let handle;
    try {
      handle = await this.openFile(path);
    } catch (error) {
      if (isNotFound(error)) throw new MissingBackupFileError(path);
      throw error;
    }
    try {
      // Buffers sized to what is left: most payloads are a few KB, and a fresh 4 MiB buffer per
      // read (zero-filled, then pinned by the returned view) cost more than the read itself.
      const { size } = await handle.stat();
      let position = 0;
      while (position < size) {
        const buf = new Uint8Array(Math.min(chunkSize, size - position));
        const { bytesRead } = await handle.read(buf, 0, buf.length, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
}
