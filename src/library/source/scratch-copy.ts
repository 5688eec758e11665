import { CorruptBackupError } from '../../core/errors.ts';
import type { FileRead } from '../../core/file-read.ts';
import type { DirHandleLike } from '../../stores/handle-backend.ts';
import { StoreError } from '../../stores/errors.ts';
import { writeAll } from '../../stores/packed/packed-backend.ts';

/**
 * Somewhere to copy a big file that its source cannot read synchronously (a picked folder's file, a
 * zip entry) so SQLite can read the copy in place: a 1.3M-file backup's 1.19 GB Manifest.db copied into
 * SQLite's memory instead would all be held by the Library's worker while the backup is open.
 */
export interface ScratchSpace {
  /**
   * `chunks` (`size` bytes in all) written to a private file and opened for synchronous reads. Closing
   * the result deletes the file. null, before reading any chunk, when the file is small enough to
   * read into memory, or when there is no room or no synchronous access here (the caller then reads
   * the file some other way); a source that ends early or runs long is a CorruptBackupError
   * naming `what`.
   */
  copy(chunks: AsyncIterable<Uint8Array>, size: number, what: string): Promise<FileRead | null>;
}

const FOLDER = 'lifeboat-scratch';

/** Smaller files load into memory faster than they copy, and memory holds them easily. */
const DEFAULT_MIN_BYTES = 64 * 1024 * 1024;

/** Room left for the rest of the site's data after a copy, as a share of the copy. */
const HEADROOM = 0.1;

function isFull(error: unknown): boolean {
  return (error instanceof StoreError && error.errno === 'ENOSPC') || (error as { name?: string }).name === 'QuotaExceededError';
}

/**
 * Scratch copies in the origin's private file system (OPFS), in a folder of their own beside the
 * backups. Copies hold ciphertext where the backup is encrypted: nothing decrypted is written.
 */
export class OpfsScratch implements ScratchSpace {
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly root: () => Promise<DirHandleLike>,
    private readonly estimate: () => Promise<{ quota?: number; usage?: number }>,
    private readonly minBytes = DEFAULT_MIN_BYTES,
  ) {}

  /**
   * Deletes copies left behind by a worker that never closed them (a crash, a closed tab): once, before
   * the first copy, or when the Library starts. A copy another worker still reads is locked by its access
   * handle, so it cannot be removed and stays.
   */
  sweepLeftovers(): Promise<void> {
    this.sweeping ??= (async () => {
      const root = await this.root();
      let dir: DirHandleLike;
      try {
        dir = await root.getDirectoryHandle(FOLDER);
      } catch {
        return; // never made: nothing to sweep
      }
      const names: string[] = [];
      for await (const entry of dir.values()) names.push(entry.name);
      for (const name of names) await dir.removeEntry(name, { recursive: true }).catch(() => undefined);
    })().catch(() => undefined);
    return this.sweeping;
  }

  async copy(chunks: AsyncIterable<Uint8Array>, size: number, what: string): Promise<FileRead | null> {
    if (size < this.minBytes) return null;
    const { quota, usage } = await this.estimate().catch(() => ({ quota: undefined, usage: undefined }));
    if (quota !== undefined && usage !== undefined && quota - usage < size * (1 + HEADROOM)) return null;
    let dir: DirHandleLike;
    try {
      await this.sweepLeftovers();
      dir = await (await this.root()).getDirectoryHandle(FOLDER, { create: true });
    } catch {
      return null;
    }
    const name = `copy-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const remove = (): Promise<void> => dir.removeEntry(name).catch(() => undefined);
    let access;
    try {
      const handle = await dir.getFileHandle(name, { create: true });
      if (!handle.createSyncAccessHandle) throw new Error('no synchronous access here');
      access = await handle.createSyncAccessHandle();
    } catch {
      await remove();
      return null;
    }
    try {
      let at = 0;
      for await (const chunk of chunks) {
        if (at + chunk.byteLength > size) throw new CorruptBackupError(`${what} changed while it was read: it grew past ${size} bytes.`);
        writeAll(access, chunk, at, name);
        at += chunk.byteLength;
      }
      if (at !== size) throw new CorruptBackupError(`${what} changed or was cut short while it was read (${at} of ${size} bytes).`);
    } catch (error) {
      access.close();
      await remove();
      if (isFull(error)) return null;
      throw error;
    }
    const opened = access;
    return {
      size,
      read: (into, at) => opened.read(into, { at }),
      close: () => {
        opened.close();
        void remove();
      },
    };
  }
}
