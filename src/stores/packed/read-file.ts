import { StoreError } from '../errors.ts';
import { mapError, type DirHandleLike } from '../handle-backend.ts';

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

/** `bytes` in views of at most `chunkSize` (no copies). */
export function* sliceChunks(bytes: Uint8Array, chunkSize: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += chunkSize) yield bytes.subarray(at, Math.min(bytes.byteLength, at + chunkSize));
}
