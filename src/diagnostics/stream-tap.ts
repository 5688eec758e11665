import type { ByteStream } from '../core/byte-stream.ts';
import { concatBytes } from '../core/bytes.ts';
import { encodeBase64 } from '../plist/base64.ts';
import { MAX_PLIST_MESSAGE_BYTES, decodePlist, type PlistValue } from '../plist/index.ts';
import { messageName, type TraceDirection } from './trace-format.ts';
import type { TraceRecorder } from './trace-recorder.ts';

/**
 * The optional seam through which host code reports its application-level streams (after TLS).
 * Absent, nothing is wrapped and nothing costs anything.
 */
export interface TraceTap {
  /** A new connection to a device port; use the returned stream in place of `stream`. */
  open(stream: ByteStream, info: { port: number; service: string; tls?: boolean }): TappedConnection;
  /** An error the host is about to show or throw. */
  error(error: unknown): void;
}

export interface TappedConnection {
  readonly stream: ByteStream;
  /** TLS began on this connection: `tls` is the decrypted stream to use from now on. */
  upgrade(tls: ByteStream): ByteStream;
  /** TLS ended: `raw` is the plaintext stream to use from now on. */
  downgrade(raw: ByteStream): ByteStream;
}

/** DeviceLink file block codes (services/devicelink-files.ts). */
const FILE_DATA = 0x0c;
const FILE_SUCCESS = 0x00;
/** Uploaded files whose (redacted) plist content a trace keeps: the host reads them back after a backup. */
const KEPT_FILES = /(^|\/)(Status|Manifest|Info)\.plist$/;
const MAX_KEPT_BYTES = 1024 * 1024;
const AFC_HEADER_BYTES = 40;
const AFC_MAGIC = 'CFA6LPAA';
const AFC_SERVICE = /afc|house_arrest/i;

/** A TraceTap that records into `recorder`. */
export function recorderTap(recorder: TraceRecorder): TraceTap {
  return {
    open(stream, info) {
      const conn = recorder.connectionId();
      recorder.add({ kind: 'open', conn, port: info.port, service: info.service, ...(info.tls ? { tls: true } : {}) });
      return new RecordedConnection(recorder, conn, AFC_SERVICE.test(info.service) ? 'afc' : 'plist', stream);
    },
    error(error) {
      recorder.error(error);
    },
  };
}

class RecordedConnection implements TappedConnection {
  readonly stream: ByteStream;
  private readonly host: DirectionParser;
  private readonly device: DirectionParser;
  private closed = false;

  constructor(
    private readonly recorder: TraceRecorder,
    private readonly conn: number,
    framing: 'plist' | 'afc',
    stream: ByteStream,
  ) {
    this.host = new DirectionParser(recorder, conn, 'host', framing);
    this.device = new DirectionParser(recorder, conn, 'device', framing);
    this.device.peer = this.host;
    this.stream = this.wrap(stream);
  }

  upgrade(tls: ByteStream): ByteStream {
    this.recorder.add({ kind: 'tls', conn: this.conn });
    return this.wrap(tls);
  }

  downgrade(raw: ByteStream): ByteStream {
    this.recorder.add({ kind: 'tls-end', conn: this.conn });
    return this.wrap(raw);
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.recorder.add({ kind: 'close', conn: this.conn });
  }

  private wrap(inner: ByteStream): ByteStream {
    return {
      read: async () => {
        const chunk = await inner.read();
        if (chunk === null) this.markClosed();
        else this.device.feed(chunk);
        return chunk;
      },
      write: (data) => {
        this.host.feed(data);
        return inner.write(data);
      },
      close: () => {
        this.markClosed();
        return inner.close();
      },
    };
  }
}

/**
 * Cuts one direction of a connection into messages as bytes pass, synchronously and without
 * holding file data: length-prefixed plists, DeviceLink file streams (after DLMessageUploadFiles
 * from the device, or DLMessageDownloadFiles for the host's answer), AFC packets. Bytes it cannot
 * frame are counted from then on.
 */
class DirectionParser {
  peer: DirectionParser | undefined;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private need = 0;
  private then: ((bytes: Uint8Array) => void) | null = null;
  private skip = 0;
  private afterSkip: (() => void) | null = null;
  private counting = false;

  constructor(
    private readonly recorder: TraceRecorder,
    private readonly conn: number,
    private readonly dir: TraceDirection,
    framing: 'plist' | 'afc',
  ) {
    if (framing === 'afc') this.afcPacket();
    else this.frame();
  }

  feed(chunk: Uint8Array): void {
    if (this.counting) {
      this.recorder.add({ kind: 'data', conn: this.conn, dir: this.dir, bytes: chunk.byteLength });
      return;
    }
    try {
      let at = 0;
      while (at < chunk.byteLength && !this.counting) {
        if (this.skip > 0) {
          const take = Math.min(this.skip, chunk.byteLength - at);
          this.skip -= take;
          at += take;
          if (this.skip === 0) this.call(this.afterSkip);
          continue;
        }
        const then = this.then;
        if (!then) break;
        const take = Math.min(this.need - this.pendingBytes, chunk.byteLength - at);
        this.pending.push(chunk.slice(at, at + take));
        this.pendingBytes += take;
        at += take;
        if (this.pendingBytes === this.need) {
          const bytes = this.pending.length === 1 ? this.pending[0]! : concatBytes(this.pending);
          this.pending = [];
          this.pendingBytes = 0;
          this.then = null;
          then(bytes);
        }
      }
      if (this.counting && at < chunk.byteLength) this.recorder.add({ kind: 'data', conn: this.conn, dir: this.dir, bytes: chunk.byteLength - at });
    } catch (error) {
      // Diagnostics must never break the session they watch.
      this.giveUp(`could not follow the ${this.dir} stream: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private call(f: (() => void) | null): void {
    this.afterSkip = null;
    f?.();
  }

  private expect(n: number, then: (bytes: Uint8Array) => void): void {
    if (n === 0) {
      then(new Uint8Array(0));
      return;
    }
    this.need = n;
    this.then = then;
  }

  private discard(n: number, then: () => void): void {
    if (n === 0) {
      then();
      return;
    }
    this.skip = n;
    this.afterSkip = then;
  }

  private giveUp(why: string): void {
    this.counting = true;
    this.then = null;
    this.recorder.add({ kind: 'note', text: `connection ${this.conn}: ${why}; counting bytes only` });
  }

  private frame(): void {
    this.expect(4, (header) => {
      const length = u32(header, 0);
      if (length === 0 || length > MAX_PLIST_MESSAGE_BYTES) {
        this.giveUp(`a ${length}-byte frame is not a plist message`);
        return;
      }
      this.expect(length, (body) => {
        let value: PlistValue;
        try {
          value = decodePlist(body, { reals: 'wrap' });
        } catch {
          this.giveUp('undecodable plist');
          return;
        }
        const r = this.recorder.redactor;
        this.recorder.add({ kind: 'plist', conn: this.conn, dir: this.dir, name: r.text(messageName(value)), size: length, value: r.plist(value) });
        this.afterMessage(value);
      });
    });
  }

  private afterMessage(value: PlistValue): void {
    const name = Array.isArray(value) ? value[0] : undefined;
    if (this.dir === 'device' && name === 'DLMessageUploadFiles') return this.uploadFile();
    if (this.dir === 'device' && name === 'DLMessageDownloadFiles') this.peer?.downloadFile();
    this.frame();
  }

  /** The host's answer to DLMessageDownloadFiles: per file its path and blocks, then a zero length. */
  downloadFile(): void {
    this.expect(4, (n) => {
      const length = u32(n, 0);
      if (length === 0) return this.filesEnd();
      this.expect(length, (name) => this.fileBlocks(decodeText(name), 0, null));
    });
  }

  /** The device's DLMessageUploadFiles stream: per file a device name, a path and blocks, until a zero length. */
  private uploadFile(): void {
    this.expect(4, (n) => {
      const nameLength = u32(n, 0);
      if (nameLength === 0) return this.filesEnd();
      this.expect(nameLength, () =>
        this.expect(4, (p) => {
          const pathLength = u32(p, 0);
          if (pathLength === 0) return this.filesEnd();
          this.expect(pathLength, (path) => {
            const text = decodeText(path);
            this.fileBlocks(text, 0, KEPT_FILES.test(text) ? [] : null);
          });
        }),
      );
    });
  }

  private fileBlocks(path: string, bytes: number, kept: Uint8Array[] | null): void {
    const next = (): void => (this.dir === 'device' ? this.uploadFile() : this.downloadFile());
    this.expect(4, (b) => {
      const blockLength = u32(b, 0);
      if (blockLength === 0) {
        this.file(path, bytes, 'error', 'the batch ended inside the file', null);
        return this.filesEnd();
      }
      this.expect(1, ([code]) => {
        const rest = blockLength - 1;
        if (code === FILE_DATA) {
          if (kept && bytes + rest <= MAX_KEPT_BYTES) {
            this.expect(rest, (data) => {
              kept.push(data);
              this.fileBlocks(path, bytes + rest, kept);
            });
          } else this.discard(rest, () => this.fileBlocks(path, bytes + rest, null));
          return;
        }
        this.expect(rest, (tail) => {
          if (code === FILE_SUCCESS) this.file(path, bytes, 'ok', undefined, kept);
          else this.file(path, bytes, 'error', decodeText(tail), null);
          next();
        });
      });
    });
  }

  private file(path: string, bytes: number, status: 'ok' | 'error', error: string | undefined, kept: Uint8Array[] | null): void {
    const r = this.recorder.redactor;
    let content;
    if (kept) {
      try {
        content = r.plist(decodePlist(concatBytes(kept), { reals: 'wrap' }));
      } catch {
        content = undefined; // not a plist after all: size only
      }
    }
    this.recorder.add({
      kind: 'file',
      conn: this.conn,
      dir: this.dir,
      path: r.text(path),
      bytes,
      status,
      ...(error !== undefined ? { error: r.text(error) } : {}),
      ...(content !== undefined ? { content } : {}),
    });
  }

  private filesEnd(): void {
    this.recorder.add({ kind: 'files-end', conn: this.conn, dir: this.dir });
    this.frame();
  }

  private afcPacket(): void {
    this.expect(AFC_HEADER_BYTES, (h) => {
      if (decodeText(h.subarray(0, 8)) !== AFC_MAGIC) return this.giveUp('not an AFC packet');
      const entire = u64le(h, 8);
      const own = u64le(h, 16);
      if (own < AFC_HEADER_BYTES || entire < own) return this.giveUp('bad AFC lengths');
      const packet = u64le(h, 24);
      const op = u64le(h, 32);
      this.expect(own - AFC_HEADER_BYTES, (header) =>
        this.discard(entire - own, () => {
          this.recorder.add({ kind: 'afc', conn: this.conn, dir: this.dir, op, packet, header: encodeBase64(header), bytes: entire - own });
          this.afcPacket();
        }),
      );
    });
  }
}

const decoder = new TextDecoder();
function decodeText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function u64le(b: Uint8Array, at: number): number {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
}
