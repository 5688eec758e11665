import type { ByteStream } from '../../src/core/byte-stream.ts';
import { FILE_CODE } from '../../src/services/devicelink-files.ts';
import { u32 } from './scripted-device.ts';

// DeviceLink upload frames as a device sends them, for the upload tests.

const enc = new TextEncoder();

export { u32 };

export function block(code: number, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([...u32(payload.byteLength + 1), code, ...payload]);
}

/** One file of an UploadFiles batch: name, path, data blocks of `blockSize`, success. */
export function file(path: string, data: Uint8Array, blockSize = 1000): Uint8Array[] {
  const name = enc.encode(path);
  const parts = [u32(name.byteLength), name, u32(name.byteLength), name];
  for (let at = 0; at < data.byteLength; at += blockSize) parts.push(block(FILE_CODE.FILE_DATA, data.subarray(at, at + blockSize)));
  parts.push(block(FILE_CODE.SUCCESS, new Uint8Array(0)));
  return parts;
}

export function content(i: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, k) => (i * 31 + k) & 255);
}

/**
 * A stream that offers readInto, as a socket over a SlabReceiver does, and scribbles over every chunk
 * once it is copied out: whoever kept a view of its memory instead of a copy reads garbage.
 */
export function copyingStream(inner: ByteStream): ByteStream {
  let pending: Uint8Array | null = null;
  return {
    read: () => inner.read(),
    write: (data) => inner.write(data),
    close: () => inner.close(),
    readInto: async (target) => {
      // A copy: the pair hands over the writer's own arrays, which the writer may send again.
      pending ??= (await inner.read())?.slice() ?? null;
      if (pending === null) return null;
      const n = Math.min(target.byteLength, pending.byteLength);
      target.set(pending.subarray(0, n));
      pending.fill(0xee, 0, n);
      pending = n === pending.byteLength ? null : pending.subarray(n);
      return n;
    },
  };
}
