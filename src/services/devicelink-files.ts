import type { BufferedReader } from '../core/buffered-reader.ts';
import { ProtocolError } from '../core/errors.ts';
import type { PlistDict } from '../plist/index.ts';
import { concatBytes } from '../core/bytes.ts';

/** Block codes inside DeviceLink file streams. */
export const FILE_CODE = { SUCCESS: 0x00, ERROR_LOCAL: 0x06, ERROR_REMOTE: 0x0b, FILE_DATA: 0x0c } as const;
/** Blocks we send to the device: it buffers whole blocks, and huge ones got BackupAgent2 killed. */
export const DOWNLOAD_BLOCK_BYTES = 32 * 1024;
/**
 * How much of a file is read from the store at once, and about how much framed data goes to the
 * link in one write. Reading per 32 KiB block cost a store round trip each (in OPFS a file handle
 * and a File snapshot per call): a 40 MB Manifest.db took 6 s to reach the phone, 1 MiB reads 1 s.
 */
const DOWNLOAD_READ_BYTES = 1 << 20;
const DOWNLOAD_WRITE_BYTES = 256 * 1024;
/** Longest name or path an upload may carry; a longer one is a broken stream. */
export const MAX_PATH_BYTES = 4096;
/** Longest error text a device may send for a file it could not read. */
export const MAX_ERROR_TEXT_BYTES = MAX_PATH_BYTES * 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** POSIX reason → the DeviceLink status the device understands (anything else: -1). */
const ERRNO_TO_DL: Record<string, number> = {
  ENOENT: -6,
  EEXIST: -7,
  ENOTDIR: -8,
  EISDIR: -9,
  ELOOP: -10,
  EIO: -11,
  ENOSPC: -15,
};

/** Reads `errno` (or Node's `code`) off any error without knowing its class. */
export function deviceLinkErrorCode(error: unknown): number {
  const e = error as { errno?: unknown; code?: unknown };
  const name = typeof e?.errno === 'string' ? e.errno : typeof e?.code === 'string' ? e.code : '';
  return ERRNO_TO_DL[name] ?? -1;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Where received files go. */
export interface UploadSink {
  write(chunk: Uint8Array): Promise<void>;
  /** True when the sink is done with a chunk once its write resolves (see FileSink). */
  readonly chunksReusable?: boolean;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** A sink that has stored each chunk when writeNow returns (see UploadTarget.createFileNow). */
export interface UploadSinkNow {
  writeNow(chunk: Uint8Array): void;
  closeNow(): void;
  abortNow(): void;
}

export interface UploadTarget {
  createFile(path: string): Promise<UploadSink>;
  /**
   * createFile without promises, where the target's storage is synchronous (a Node store): a file is
   * then stored as its blocks are parsed. null: this file needs createFile.
   */
  createFileNow?(path: string): UploadSinkNow | null;
}

export interface UploadObserver {
  onBytes?(count: number): void;
  onFileDone?(path: string, bytes: number): void;
  /** A file the device could not send (ERROR_REMOTE) or we could not write; the batch goes on. */
  onWarning?(message: string): void;
}

/**
 * Awaited after every `every` files of a batch: for a batch already read whole and answered, whose
 * files are then stored without waiting on anything, it lets the connection be read meanwhile (the
 * device sends its next batch while this one is stored, instead of after it).
 */
export interface UploadPause {
  every: number;
  pause(): Promise<void>;
}

export interface UploadBatchResult {
  files: number;
  bytes: number;
  /** First host-side write failure, reported to the device after the batch. */
  hostError: unknown;
}

/** Files whose storage work may still be pending while the next ones are parsed. */
const MAX_FILES_IN_FLIGHT = 32;
/** Received bytes not yet handed to storage, across files; past it parsing waits for storage. */
const MAX_BYTES_IN_FLIGHT = 16 * 1024 * 1024;
/**
 * The same once sinks reuse chunks: the piece pool keeps as many buffers as were ever in flight, and
 * the one such sink, the Node store, writes synchronously, so a deeper queue overlaps nothing there.
 */
const MAX_POOLED_BYTES_IN_FLIGHT = 4 * 1024 * 1024;
/** Size of the reused buffers file data is copied into (see UploadPipeline.takePiece). */
const PIECE_BYTES = 64 * 1024;
/**
 * A file stored as it is parsed (StoredNowFile) that spans several pieces is written this much at a
 * time. Its data arrives as the socket delivers it, about 20 KB a piece (three per 64 KiB block):
 * the 1.19 GB Manifest.db of a huge phone was 60k writes, 0.51 s of the kernel's time alone against
 * 0.15 s in 256 KiB writes, and several times that while the phone kept both cores busy.
 */
const GATHER_BYTES = 256 * 1024;

/**
 * Storage work (create, writes, close) for the files of one batch, pipelined: each file's steps run
 * in order, but the next file is parsed while earlier ones are still being created or closed. In a
 * browser every create/close/move is a round trip to the storage process; overlapping them is what
 * makes thousands of small files fast. Memory stays bounded by the limits above.
 *
 * When the reader copies and the sinks are done with a chunk once written (the Node store), file data
 * is copied into buffers that go back to a pool after their write: a fresh buffer per piece is garbage
 * that, at hundreds of MB/s, the collector sees only tens of MB later.
 */
class UploadPipeline {
  private readonly pending: Promise<void>[] = [];
  private readonly byPath = new Map<string, Promise<void>>();
  queuedBytes = 0;
  /** Set once a sink said it is done with each chunk after writing it. */
  sinksReuseChunks = false;
  /** Piece buffers back from storage; never more than were in flight at once. */
  private readonly spare: Uint8Array[] = [];

  constructor(
    private readonly target: UploadTarget,
    private readonly result: UploadBatchResult,
    private readonly observer: UploadObserver,
  ) {}

  start(path: string): PipelinedFile | StoredNowFile {
    // Two uploads of one path in a batch must land in order: one still in flight keeps the next async too.
    if (this.target.createFileNow && !this.byPath.has(path)) {
      try {
        const sink = this.target.createFileNow(path);
        if (sink) return new StoredNowFile(path, sink, this);
      } catch (e) {
        return new StoredNowFile(path, null, this, e);
      }
    }
    const before = this.byPath.get(path) ?? Promise.resolve();
    const file = new PipelinedFile(path, before.then(() => this.target.createFile(path)), this);
    this.byPath.set(path, file.done);
    // Forgotten once stored: a batch of a million files must not keep one entry per file.
    void file.done.then(() => {
      if (this.byPath.get(path) === file.done) this.byPath.delete(path);
    });
    return file;
  }

  /** StoredNowFile's buffer for gathering a large file's pieces; one file is parsed at a time. */
  private gatherBuffer: Uint8Array | null = null;

  gathering(): Uint8Array {
    return (this.gatherBuffer ??= new Uint8Array(GATHER_BYTES));
  }

  /** A buffer to copy file data into; PipelinedFile.write gives it back. */
  takePiece(): Uint8Array {
    return this.spare.pop() ?? new Uint8Array(PIECE_BYTES);
  }

  givePiece(piece: Uint8Array): void {
    this.spare.push(piece);
  }

  /** The file was received whole: close it in the background and count it once stored. */
  finish(file: PipelinedFile | StoredNowFile, bytes: number): void {
    if (file instanceof StoredNowFile) {
      if (file.close()) {
        this.result.files++;
        this.observer.onFileDone?.(file.path, bytes);
      }
      this.report(file);
      return;
    }
    this.pending.push(
      file.close().then((stored) => {
        if (stored) {
          this.result.files++;
          this.observer.onFileDone?.(file.path, bytes);
        }
        this.report(file);
      }),
    );
  }

  /** The file was cut short (device error or end of batch): drop it in the background. */
  drop(file: PipelinedFile | StoredNowFile): void {
    if (file instanceof StoredNowFile) {
      file.abort();
      this.report(file);
      return;
    }
    this.pending.push(file.abort().then(() => this.report(file)));
  }

  private report(file: PipelinedFile | StoredNowFile): void {
    if (file.error === undefined) return;
    this.result.hostError ??= file.error;
    this.observer.onWarning?.(`Could not save ${file.path}: ${errorText(file.error)}`);
  }

  private get maxBytesInFlight(): number {
    return this.sinksReuseChunks ? MAX_POOLED_BYTES_IN_FLIGHT : MAX_BYTES_IN_FLIGHT;
  }

  /**
   * True while too many files or received bytes are pending. Checked before awaiting `throttle`: an
   * await per received chunk costs a microtask turn even when there is nothing to wait for.
   */
  get full(): boolean {
    return this.pending.length > MAX_FILES_IN_FLIGHT || this.queuedBytes > this.maxBytesInFlight;
  }

  /** Waits while too many files or received bytes are pending (`current` is the file being parsed). */
  async throttle(current: PipelinedFile | StoredNowFile | null): Promise<void> {
    while (this.pending.length > MAX_FILES_IN_FLIGHT) await this.pending.shift();
    while (this.queuedBytes > this.maxBytesInFlight) {
      if (this.pending.length > 0) await this.pending.shift();
      else if (current instanceof PipelinedFile) await current.drained();
      else break;
    }
  }

  async settle(): Promise<void> {
    while (this.pending.length > 0) await this.pending.shift();
  }
}

class PipelinedFile {
  error: unknown;
  private sink: UploadSink | null = null;
  private chain: Promise<void>;
  private resolveDone!: () => void;
  /** Settles (never rejects) once the file is closed or dropped. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    readonly path: string,
    sink: Promise<UploadSink>,
    private readonly pipeline: UploadPipeline,
  ) {
    this.chain = sink.then(
      (s) => {
        this.sink = s;
        if (s.chunksReusable === true) pipeline.sinksReuseChunks = true;
      },
      (e: unknown) => void (this.error = e),
    );
  }

  /** Settles when every write queued so far has been handed to storage. */
  drained(): Promise<void> {
    return this.chain;
  }

  /**
   * Queues `piece` for storage. With `pooled` (the buffer `piece` views, from takePiece) the buffer goes
   * back to the pool once nothing can read it any more: after a write by a sink that reuses chunks, or
   * when no write happens at all.
   */
  write(piece: Uint8Array, pooled?: Uint8Array): void {
    this.pipeline.queuedBytes += piece.byteLength;
    this.chain = this.chain.then(async () => {
      this.pipeline.queuedBytes -= piece.byteLength;
      if (!this.sink || this.error !== undefined) {
        if (pooled) this.pipeline.givePiece(pooled);
        return;
      }
      try {
        await this.sink.write(piece);
        if (pooled && this.sink.chunksReusable === true) this.pipeline.givePiece(pooled);
      } catch (e) {
        this.error = e;
      }
    });
  }

  /** True when the file is complete in storage. */
  async close(): Promise<boolean> {
    await this.chain;
    try {
      if (!this.sink) return false;
      if (this.error !== undefined) {
        await this.sink.abort().catch(() => undefined);
        return false;
      }
      try {
        await this.sink.close();
        return true;
      } catch (e) {
        this.error = e;
        return false;
      }
    } finally {
      this.resolveDone();
    }
  }

  async abort(): Promise<void> {
    await this.chain;
    try {
      await this.sink?.abort().catch(() => undefined);
    } finally {
      this.resolveDone();
    }
  }
}

/**
 * A file stored as it is parsed, through a synchronous sink: no promise per step. Its first piece
 * goes to storage straight from the reader's buffer (most files are one piece); the pieces of a larger
 * file are gathered into GATHER_BYTES writes, read straight into the gathering buffer where the reader
 * allows (`room`). A failed step is kept and reported like PipelinedFile's.
 */
class StoredNowFile {
  /** Bytes gathered and not yet written; -1 until the file's second piece (gathering not started). */
  private gathered = -1;

  constructor(
    readonly path: string,
    private readonly sink: UploadSinkNow | null,
    private readonly pipeline: UploadPipeline,
    public error: unknown = undefined,
  ) {}

  write(piece: Uint8Array): void {
    if (!this.sink || this.error !== undefined) return;
    if (this.gathered < 0) {
      this.gathered = 0;
      this.writeNow(piece);
      return;
    }
    const buffer = this.pipeline.gathering();
    for (let at = 0; at < piece.byteLength; ) {
      if (this.gathered === 0 && piece.byteLength - at >= buffer.byteLength) {
        this.writeNow(piece.subarray(at));
        return;
      }
      const take = Math.min(piece.byteLength - at, buffer.byteLength - this.gathered);
      buffer.set(piece.subarray(at, at + take), this.gathered);
      this.gathered += take;
      at += take;
      if (this.gathered === buffer.byteLength) this.flush();
    }
  }

  /**
   * Where the next piece can be read to without a copy (at most `max` bytes), or null before gathering
   * starts or after a failure; `commit` then counts what was read there.
   */
  room(max: number): Uint8Array | null {
    if (this.gathered < 0 || !this.sink || this.error !== undefined) return null;
    const buffer = this.pipeline.gathering();
    if (this.gathered === buffer.byteLength) this.flush();
    return buffer.subarray(this.gathered, Math.min(buffer.byteLength, this.gathered + max));
  }

  commit(count: number): void {
    this.gathered += count;
  }

  private flush(): void {
    if (this.gathered <= 0) return;
    const bytes = this.pipeline.gathering().subarray(0, this.gathered);
    this.gathered = 0;
    this.writeNow(bytes);
  }

  private writeNow(bytes: Uint8Array): void {
    if (this.error !== undefined) return;
    try {
      this.sink!.writeNow(bytes);
    } catch (e) {
      this.error = e;
    }
  }

  /** True when the file is complete in storage. */
  close(): boolean {
    if (!this.sink) return false;
    this.flush();
    if (this.error !== undefined) {
      this.abort();
      return false;
    }
    try {
      this.sink.closeNow();
      return true;
    } catch (e) {
      this.error = e;
      return false;
    }
  }

  abort(): void {
    this.gathered = -1; // what was gathered is dropped with the file
    try {
      this.sink?.abortNow();
    } catch {
      // What could not be deleted is the store's to clean up; the file's own failure is what is reported.
    }
  }
}

/** A buffered uint32 without a promise, or null when it has not all arrived yet. */
function uint32(reader: BufferedReader): number | null {
  const n = reader.takeUint32BE();
  return n === -1 ? null : n;
}

/**
 * Receives one DLMessageUploadFiles batch: per file a device name, a destination path and blocks,
 * until a zero length. Data is streamed to the target block by block, never held whole; storage
 * work overlaps parsing (see UploadPipeline) and has all finished when this returns or throws.
 */
export async function receiveUploadBatch(
  reader: BufferedReader,
  target: UploadTarget,
  observer: UploadObserver = {},
  pause?: UploadPause,
): Promise<UploadBatchResult> {
  const result: UploadBatchResult = { files: 0, bytes: 0, hostError: undefined };
  const pipeline = new UploadPipeline(target, result, observer);
  let current: PipelinedFile | StoredNowFile | null = null;
  let sincePause = 0;
  try {
    for (;;) {
      const nameLength = uint32(reader) ?? (await reader.readUint32BE());
      if (nameLength === 0) return result;
      if (nameLength > MAX_PATH_BYTES) throw new ProtocolError('devicelink', `upload name of ${nameLength} bytes`);
      if (!reader.skipBuffered(nameLength)) await reader.readExactly(nameLength); // device-side name: informational only
      const pathLength = uint32(reader) ?? (await reader.readUint32BE());
      if (pathLength === 0) return result;
      if (pathLength > MAX_PATH_BYTES) throw new ProtocolError('devicelink', `upload path of ${pathLength} bytes`);
      const path = reader.takeBufferedText(pathLength, decoder) ?? decoder.decode(await reader.readExactly(pathLength));

      const file = pipeline.start(path);
      current = file;
      let fileBytes = 0;
      let complete = false;
      let batchEnded = false;
      while (!complete) {
        const blockLength = uint32(reader) ?? (await reader.readUint32BE());
        if (blockLength === 0) {
          batchEnded = true;
          break;
        }
        const buffered = reader.takeByte();
        const code = buffered !== -1 ? buffered : (await reader.readExactly(1))[0]!;
        let remaining = blockLength - 1;
        if (code === FILE_CODE.FILE_DATA) {
          // A copying reader with sinks that reuse chunks fills pooled pieces (see UploadPipeline).
          const pooling = reader.copies && pipeline.sinksReuseChunks;
          while (remaining > 0) {
            let piece: Uint8Array | null;
            let pooled: Uint8Array | undefined;
            const room = file instanceof StoredNowFile && reader.buffered === 0 ? file.room(remaining) : null;
            if (room) {
              // A large file's next bytes go straight where they are gathered for its next write.
              const n = await reader.readAvailableInto(room);
              piece = n === null ? null : room.subarray(0, n);
            } else if (file instanceof StoredNowFile && reader.buffered > 0) {
              // Stored before the next read, so the reader's own memory serves; with nothing buffered, one reused piece.
              piece = reader.viewBuffered(remaining);
            } else if (pooling || file instanceof StoredNowFile) {
              pooled = pipeline.takePiece();
              const n = await reader.readAvailableInto(pooled.subarray(0, Math.min(remaining, pooled.byteLength)));
              piece = n === null ? null : pooled.subarray(0, n);
            } else {
              piece = reader.buffered > 0 ? reader.takeBuffered(Math.min(remaining, reader.buffered))! : await reader.readAvailable(remaining);
            }
            if (piece === null) throw new ProtocolError('devicelink', 'connection closed inside a file block');
            remaining -= piece.byteLength;
            fileBytes += piece.byteLength;
            result.bytes += piece.byteLength;
            observer.onBytes?.(piece.byteLength);
            if (file instanceof StoredNowFile) {
              if (room) file.commit(piece.byteLength);
              else file.write(piece);
              if (pooled) pipeline.givePiece(pooled);
              continue;
            }
            file.write(piece, pooled);
            if (pipeline.full) await pipeline.throttle(file);
          }
        } else if (code === FILE_CODE.SUCCESS) {
          // The trailer carries no data; a long one is a broken stream, not something to buffer.
          if (remaining > MAX_PATH_BYTES) throw new ProtocolError('devicelink', `file trailer of ${remaining} bytes`);
          if (remaining > 0) await reader.readExactly(remaining);
          complete = true;
        } else if (code === FILE_CODE.ERROR_REMOTE || code === FILE_CODE.ERROR_LOCAL) {
          if (remaining > MAX_ERROR_TEXT_BYTES) throw new ProtocolError('devicelink', `error text of ${remaining} bytes`);
          const text = decoder.decode(await reader.readExactly(remaining));
          observer.onWarning?.(`The device could not send ${path}: ${text}`);
          break;
        } else {
          throw new ProtocolError('devicelink', `unknown file block code 0x${code.toString(16)}`);
        }
      }
      current = null;
      if (complete) pipeline.finish(file, fileBytes);
      else pipeline.drop(file);
      if (pipeline.full) await pipeline.throttle(null);
      if (batchEnded) return result;
      if (pause && ++sincePause >= pause.every) {
        sincePause = 0;
        await pause.pause();
      }
    }
  } catch (e) {
    // A file cut off mid-stream is dropped, never published.
    if (current) pipeline.drop(current);
    throw e;
  } finally {
    await pipeline.settle();
  }
}

export interface DownloadSource {
  /**
   * The file in chunks of at most `chunkSize` bytes. With `scratch`, a source may read into it and
   * yield views of it, each valid only until the next chunk is asked for.
   */
  read(path: string, chunkSize: number, scratch?: Uint8Array): AsyncIterable<Uint8Array>;
}

export interface DownloadOptions {
  onBytes?: (count: number) => void;
  /**
   * `write` holds nothing of its bytes once it settles (ByteStream.releasesWrites): the blocks are
   * then framed in one reused buffer instead of fresh memory per write.
   */
  writeReleasesBytes?: boolean;
}

/**
 * Answers DLMessageDownloadFiles: each path, its data in ≤ 32 KiB blocks and a trailer, then the
 * 4-byte terminator (always, even for an empty list). Returns the multi-status dict for missing or
 * unreadable files (empty when all went well).
 */
export async function sendDownloadFiles(
  write: (bytes: Uint8Array) => Promise<void>,
  paths: string[],
  source: DownloadSource,
  options: DownloadOptions = {},
): Promise<PlistDict> {
  const { onBytes } = options;
  const errors: PlistDict = {};
  const out = new WriteBatch(write, DOWNLOAD_WRITE_BYTES, options.writeReleasesBytes === true);
  // Reused memory: a fresh buffer costs its page faults on first touch, and an incremental backup of
  // a huge phone sends its 1.19 GB Manifest.db through here — twice over in fresh memory it was a
  // third of the host's CPU in the browser. The source reads into `scratch`; each chunk is framed
  // (copied) before the next is read.
  const scratch = new Uint8Array(DOWNLOAD_READ_BYTES);
  const reusedFrame = options.writeReleasesBytes ? new Uint8Array(framedLength(DOWNLOAD_WRITE_BYTES)) : null;
  for (const path of paths) {
    const name = encoder.encode(path);
    await out.add(concatBytes([u32(name.byteLength), name]));
    let failure: unknown;
    try {
      for await (const chunk of source.read(path, DOWNLOAD_READ_BYTES, scratch)) {
        // Several framed 32 KiB blocks per write: the device reads a stream, block boundaries are in-band.
        for (let at = 0; at < chunk.byteLength; ) {
          const start = at;
          const end = Math.min(chunk.byteLength, at + DOWNLOAD_WRITE_BYTES);
          const length = framedLength(end - start);
          const framed = reusedFrame ? reusedFrame.subarray(0, length) : new Uint8Array(length);
          const view = new DataView(framed.buffer, framed.byteOffset, length);
          for (let o = 0; at < end; ) {
            const piece = chunk.subarray(at, Math.min(end, at + DOWNLOAD_BLOCK_BYTES));
            view.setUint32(o, piece.byteLength + 1);
            framed[o + 4] = FILE_CODE.FILE_DATA;
            framed.set(piece, o + 5);
            o += 5 + piece.byteLength;
            at += piece.byteLength;
          }
          await out.add(framed);
          onBytes?.(end - start);
        }
      }
    } catch (e) {
      failure = e;
    }
    if (failure === undefined) {
      await out.add(SUCCESS_TRAILER);
    } else {
      const text = errorText(failure);
      const message = encoder.encode(text);
      const block = new Uint8Array(5 + message.byteLength);
      new DataView(block.buffer).setUint32(0, message.byteLength + 1);
      block[4] = FILE_CODE.ERROR_LOCAL;
      block.set(message, 5);
      await out.add(block);
      errors[path] = { DLFileErrorCode: deviceLinkErrorCode(failure), DLFileErrorString: text };
    }
  }
  await out.add(new Uint8Array(4));
  await out.flush();
  return errors;
}

/** Every file's last block when it was read whole (shared: a batch only ever reads it). */
const SUCCESS_TRAILER = new Uint8Array([0, 0, 0, 1, FILE_CODE.SUCCESS]);

/** `dataBytes` of file data framed in DL blocks of at most DOWNLOAD_BLOCK_BYTES, 5 header bytes each. */
function framedLength(dataBytes: number): number {
  return dataBytes + Math.ceil(dataBytes / DOWNLOAD_BLOCK_BYTES) * 5;
}

/**
 * Gathers small writes into one: a restore sends a million small files, each a name, a block and a
 * trailer, and three socket writes (or mux packets) per file cost more CPU than reading the file.
 * Over a `write` that lets go of its bytes once settled, the writes are gathered in one reused buffer
 * (each part copied in, so the caller may refill its own); otherwise parts are kept as they are and
 * joined into fresh memory.
 */
class WriteBatch {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  /** The reused buffer, twice the limit so that a name and a full frame fit in one write. */
  private readonly gathered: Uint8Array | null;

  constructor(
    private readonly write: (bytes: Uint8Array) => Promise<void>,
    private readonly limit: number,
    writeReleasesBytes: boolean,
  ) {
    this.gathered = writeReleasesBytes ? new Uint8Array(2 * limit) : null;
  }

  /** Over a releasing `write`, `bytes` are the caller's to refill once this settles. */
  async add(bytes: Uint8Array): Promise<void> {
    const gathered = this.gathered;
    if (gathered && this.bytes + bytes.byteLength > gathered.byteLength) await this.flush();
    if (this.bytes === 0 && bytes.byteLength >= this.limit) return this.write(bytes); // big: no copy
    if (gathered) gathered.set(bytes, this.bytes);
    else this.parts.push(bytes);
    this.bytes += bytes.byteLength;
    if (this.bytes >= this.limit) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const whole = this.gathered ? this.gathered.subarray(0, this.bytes) : this.parts.length === 1 ? this.parts[0]! : concatBytes(this.parts);
    this.parts = [];
    this.bytes = 0;
    await this.write(whole);
  }
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
