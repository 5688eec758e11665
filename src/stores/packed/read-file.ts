import { StoreError } from '../errors.ts';
import { mapError, type DirHandleLike, type FileHandleLike } from '../handle-backend.ts';
import type { FileNode } from './file-node.ts';
import { openReadOnlyAccess, type FileRead } from '../../core/file-read.ts';
import { blobName } from './layout.ts';

/**
 * Bytes [start, end) of a file in `dir` through getFile(), which takes no lock. A File is a
 * snapshot: once the writer appends to that file, reading it throws NotReadableError, so a fresh
 * snapshot is taken and the read retried (appends never change bytes already written).
 */
export async function readFileBytes(dir: DirHandleLike, name: string, start: number, end: number): Promise<Uint8Array> {
  for (let attempt = 0; ; attempt++) {
    try {
      const file = await (await dir.getFileHandle(name)).getFile();
      if (file.size < end) throw new StoreError('EIO', name, 'file is shorter than its catalogue says');
      return new Uint8Array(await file.slice(start, end).arrayBuffer());
    } catch (e) {
      if (e instanceof StoreError) throw e;
      if ((e as { name?: string }).name !== 'NotReadableError' || attempt >= 20) throw mapError(e, name);
    }
  }
}

/** The blob file holding `node` whole, checked against its size; null when `node` is packed. */
export async function blobFileOf(dir: DirHandleLike, node: FileNode, path: string): Promise<Blob | null> {
  if (!node.blob) return null;
  const file = await (await dir.getFileHandle(blobName(node.store))).getFile();
  if (file.size !== node.size) throw new StoreError('EIO', path, `its blob holds ${file.size} bytes, the catalogue says ${node.size}`);
  return file;
}

/**
 * The blob file holding `node` opened read-only for synchronous reads; null when `node` is packed or
 * no such handle can be had here (outside a worker, no OPFS, or a writer holds the file: then the
 * caller reads the Blob). Read-only handles share the file with other readers and with getFile().
 * With `shared` (a handle kept open for long, as the Library's in-place Manifest.db), also null where
 * the browser took the handle exclusively: Chromium before 121 ignores `mode` and would lock the file
 * against the backup engine reading it for the next incremental.
 */
export async function blobFileRead(dir: DirHandleLike, node: FileNode, path: string, options: { shared?: boolean } = {}): Promise<FileRead | null> {
  if (!node.blob) return null;
  const name = blobName(node.store);
  let handle: FileHandleLike;
  try {
    handle = await dir.getFileHandle(name);
  } catch (e) {
    throw mapError(e, name);
  }
  const opened = await openReadOnlyAccess(handle, options);
  if (!opened) return null;
  const { access, size } = opened;
  if (size !== node.size) {
    access.close();
    throw new StoreError('EIO', path, `its blob holds ${size} bytes, the catalogue says ${node.size}`);
  }
  return {
    size,
    read: (into, at) => {
      try {
        return access.read(into, { at });
      } catch (e) {
        throw mapError(e, name);
      }
    },
    close: () => access.close(),
  };
}

/** `bytes` in views of at most `chunkSize` (no copies). */
export function* sliceChunks(bytes: Uint8Array, chunkSize: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += chunkSize) yield bytes.subarray(at, Math.min(bytes.byteLength, at + chunkSize));
}
