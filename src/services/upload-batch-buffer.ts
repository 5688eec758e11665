import { BufferedReader } from '../core/buffered-reader.ts';
import type { ByteStream } from '../core/byte-stream.ts';
import { FILE_CODE, MAX_ERROR_TEXT_BYTES, MAX_PATH_BYTES } from './devicelink-files.ts';

/** A DLMessageUploadFiles batch read ahead into memory (see bufferUploadBatch). */
export interface BufferedUploadBatch {
  /** True when the whole batch, its end marker included, is in memory. */
  complete: boolean;
  /** Bytes read ahead. */
  bytes: number;
  /**
   * The batch from its first byte: the bytes read ahead, then (when not complete) the rest of it from
   * the connection, so receiveUploadBatch sees exactly the stream it would have read.
   */
  reader: BufferedReader;
}

/**
 * Reads an UploadFiles batch ahead, following its framing (name, path, blocks; a zero length ends
 * it) without storing anything, until its end marker or `cap` bytes. Nothing past the end marker is
 * read: the device sends nothing more until it hears back. A batch that is longer, or framed in a
 * way receiveUploadBatch refuses, comes back incomplete and is received as it streams in, where
 * that refusal happens as before.
 */
export async function bufferUploadBatch(reader: BufferedReader, cap: number): Promise<BufferedUploadBatch> {
  const scanner = new UploadBatchScanner();
  const parts: (Uint8Array | undefined)[] = [];
  let bytes = 0;
  while (!scanner.ended && !scanner.broken && bytes < cap) {
    if (!(await reader.waitBuffered())) break; // closed: the receiver reports it where the bytes stop
    const view = reader.peekBuffered();
    const n = scanner.scan(view.subarray(0, Math.min(view.byteLength, cap - bytes)));
    if (n === 0) break;
    parts.push(reader.takeBuffered(n)!); // a copy, or a chunk the stream handed over: ours either way
    bytes += n;
  }
  const complete = scanner.ended;
  let next = 0;
  const stream: ByteStream = {
    read: async () => {
      if (next < parts.length) {
        const part = parts[next]!;
        parts[next++] = undefined; // stored files may keep their views; the list need not
        return part;
      }
      if (complete) return null;
      // The rest of a long batch, through its end marker and no further: bytes after it are the next
      // message's and stay on the connection's reader. Framing the receiver refuses ends the scan; it
      // reads on unbounded as before and throws where the framing breaks.
      if (scanner.broken) return reader.readAvailable();
      if (scanner.ended || !(await reader.waitBuffered())) return null;
      return reader.takeBuffered(scanner.scan(reader.peekBuffered()));
    },
    write: () => Promise.reject(new Error('a buffered upload batch is read-only')),
    close: async () => {},
  };
  return { complete, bytes, reader: new BufferedReader(stream, 'devicelink') };
}

const NAME_LENGTH = 0;
const PATH_LENGTH = 1;
const BLOCK_LENGTH = 2;
const BLOCK_CODE = 3;
const SKIP = 4;
type Step = typeof NAME_LENGTH | typeof PATH_LENGTH | typeof BLOCK_LENGTH | typeof BLOCK_CODE | typeof SKIP;

/**
 * Walks an upload batch's framing a piece at a time, lengths split across pieces included, the way
 * receiveUploadBatch reads it: a zero name, path or block length ends the batch; a data block is
 * followed by another block, a success or error block by the next file.
 */
export class UploadBatchScanner {
  /** The end marker has been scanned. */
  ended = false;
  /** Framing the receiver refuses (too long a name, an unknown block code): scanning stopped. */
  broken = false;
  private step: Step = NAME_LENGTH;
  private value = 0;
  private valueBytes = 0;
  private blockLength = 0;
  private skip = 0;
  private afterSkip: Step = NAME_LENGTH;

  /** How many bytes at the start of `bytes` belong to the batch: all of them unless it ends or breaks inside. */
  scan(bytes: Uint8Array): number {
    const n = bytes.byteLength;
    let i = 0;
    while (i < n && !this.ended && !this.broken) {
      if (this.step === SKIP) {
        const take = Math.min(this.skip, n - i);
        i += take;
        this.skip -= take;
        if (this.skip === 0) this.step = this.afterSkip;
        continue;
      }
      if (this.step === BLOCK_CODE) {
        const code = bytes[i++]!;
        const body = this.blockLength - 1;
        if (code === FILE_CODE.FILE_DATA) this.skipThen(body, BLOCK_LENGTH);
        else if (code === FILE_CODE.SUCCESS && body <= MAX_PATH_BYTES) this.skipThen(body, NAME_LENGTH);
        else if ((code === FILE_CODE.ERROR_LOCAL || code === FILE_CODE.ERROR_REMOTE) && body <= MAX_ERROR_TEXT_BYTES) this.skipThen(body, NAME_LENGTH);
        else this.broken = true;
        continue;
      }
      this.value = ((this.value << 8) | bytes[i++]!) >>> 0;
      if (++this.valueBytes < 4) continue;
      const length = this.value;
      this.value = 0;
      this.valueBytes = 0;
      if (length === 0) this.ended = true;
      else if (this.step === BLOCK_LENGTH) {
        this.blockLength = length;
        this.step = BLOCK_CODE;
      } else if (length > MAX_PATH_BYTES) this.broken = true;
      else this.skipThen(length, this.step === NAME_LENGTH ? PATH_LENGTH : BLOCK_LENGTH);
    }
    return i;
  }

  private skipThen(count: number, next: Step): void {
    if (count === 0) {
      this.step = next;
      return;
    }
    this.skip = count;
    this.afterSkip = next;
    this.step = SKIP;
  }
}
