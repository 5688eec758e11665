/**
 * A file open for synchronous reads into memory the caller owns (an OPFS sync access handle opened
 * read-only, a Node file descriptor). Close it when done: while it is open, no one may write or
 * remove the file.
 */
export interface FileRead {
  readonly size: number;
  /** Reads into `into` from byte `at` of the file; how many bytes were read (fewer only at its end). */
  read(into: Uint8Array, at: number): number;
  close(): void;
}

/** Reads `into` from byte `at` until it is full or the file ends; how many bytes that was. */
export function readFully(file: FileRead, into: Uint8Array, at: number): number {
  const want = Math.max(0, Math.min(into.byteLength, file.size - at));
  let done = 0;
  while (done < want) {
    const n = file.read(done === 0 && want === into.byteLength ? into : into.subarray(done, want), at + done);
    if (n <= 0) break;
    done += n;
  }
  return done;
}

/** The part of an OPFS sync access handle a reader uses. */
interface ReadOnlyAccess {
  read(buffer: Uint8Array, options?: { at?: number }): number;
  getSize(): number;
  close(): void;
}

/** A file handle that may offer sync access (OPFS, in a dedicated worker). */
export interface SyncReadableHandle {
  createSyncAccessHandle?(options?: { mode?: 'readwrite' | 'read-only' | 'readwrite-unsafe' }): Promise<ReadOnlyAccess>;
}

/**
 * `handle`'s file open read-only for synchronous reads, or null where no such handle can be had
 * (outside a worker, not OPFS, a writer holds the file). With `shared` (a handle kept open for long),
 * also null where the browser took it exclusively: Chromium before 121 ignores `mode`, and the lock
 * would keep every other reader and writer out for as long as the handle stays open.
 */
export async function openReadOnlyAccess(handle: SyncReadableHandle, options: { shared?: boolean } = {}): Promise<{ access: ReadOnlyAccess; size: number } | null> {
  if (!handle.createSyncAccessHandle) return null;
  let access: ReadOnlyAccess;
  try {
    access = await handle.createSyncAccessHandle({ mode: 'read-only' });
  } catch {
    return null;
  }
  if (options.shared) {
    try {
      // A second reader gets in only if the first left the file shared.
      (await handle.createSyncAccessHandle({ mode: 'read-only' })).close();
    } catch {
      access.close();
      return null;
    }
  }
  return { access, size: access.getSize() };
}
