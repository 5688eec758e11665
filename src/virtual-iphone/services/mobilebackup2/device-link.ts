import type { ByteStream } from '../../../core/byte-stream.ts';
import { ChunkedBytes } from '../../../core/chunked-bytes.ts';
import { ProtocolError } from '../../../core/errors.ts';
import { encodeBinaryPlist, PlistConnection, PlistReal, type PlistValue } from '../../../plist/index.ts';
import type { BackupFaults } from './backup-state.ts';

export const DL_EMPTY = '___EmptyParameterString___';
export const DL_CODE = { success: 0x00, errorLocal: 0x06, errorRemote: 0x0b, fileData: 0x0c } as const;

/**
 * Largest file the device accepts from a DownloadFiles stream: the Manifest.db of a huge backup read
 * back for an incremental (1.19 GB at 1.3M files; 1 GiB here made that incremental fail).
 */
export const MAX_DOWNLOAD_BYTES = 3 * 1024 * 1024 * 1024;
/** A download's pieces go through a buffer this big when the reader copies (one 32 KiB block and more). */
const DOWNLOAD_SCRATCH_BYTES = 64 * 1024;

export interface StatusResponse {
  status: number;
  message: string;
  payload: PlistValue | undefined;
}

/** Thrown when the transport was cut on purpose (the "unplug" fault) or by the host. */
export class LinkClosedError extends Error {}

/** The device gives up on the running operation with an MBErrorDomain code (sent as the final ProcessMessage). */
export class BackupFailure extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The device end of a DeviceLink session: plist arrays whose first element names the message,
 * with raw file streams in between. Counts bytes written so a fault can cut the link at byte N.
 */
export class DeviceLinkEndpoint {
  readonly conn: PlistConnection;
  private written = 0;

  constructor(
    readonly stream: ByteStream,
    private readonly unplugAtByte?: number,
    private readonly faults?: BackupFaults,
  ) {
    this.conn = new PlistConnection(stream, 'mobilebackup2');
  }

  get bytesWritten(): number {
    return this.written;
  }

  async writeRaw(bytes: Uint8Array): Promise<void> {
    if (this.unplugAtByte !== undefined && this.written + bytes.byteLength >= this.unplugAtByte) {
      const keep = Math.max(0, this.unplugAtByte - this.written);
      if (keep > 0) await this.stream.write(bytes.subarray(0, keep));
      this.written += keep;
      await this.stream.close();
      throw new LinkClosedError(`link cut at byte ${this.unplugAtByte}`);
    }
    this.written += bytes.byteLength;
    await this.stream.write(bytes);
  }

  async send(message: PlistValue[]): Promise<void> {
    const injected = this.faults?.errorAtNextMessage;
    if (injected && message[0] !== 'DLMessageProcessMessage') {
      this.faults!.errorAtNextMessage = undefined;
      throw new BackupFailure(injected.code, injected.description ?? `Injected failure ${injected.code}`);
    }
    const body = encodeBinaryPlist(message);
    const frame = new Uint8Array(4 + body.byteLength);
    new DataView(frame.buffer).setUint32(0, body.byteLength);
    frame.set(body, 4);
    await this.writeRaw(frame);
  }

  /** The next DL message (an array starting with its name); null when the host closed. */
  async receive(): Promise<[string, ...PlistValue[]] | null> {
    const value = await this.conn.receiveOrEnd();
    if (value === null) return null;
    if (!Array.isArray(value) || typeof value[0] !== 'string') {
      throw new ProtocolError('mobilebackup2', 'DeviceLink message is not an array starting with its name');
    }
    return value as [string, ...PlistValue[]];
  }

  async handshake(): Promise<void> {
    await this.send(['DLMessageVersionExchange', 400, 0]);
    const reply = await this.receive();
    if (!reply || reply[0] !== 'DLMessageVersionExchange' || reply[1] !== 'DLVersionsOk') {
      throw new ProtocolError('mobilebackup2', 'host did not accept the DeviceLink version');
    }
    await this.send(['DLMessageDeviceReady']);
  }

  async processMessage(dict: PlistValue): Promise<void> {
    await this.send(['DLMessageProcessMessage', dict]);
  }

  /** Waits for the host's DLMessageStatusResponse to the request just sent. */
  async statusResponse(): Promise<StatusResponse> {
    const reply = await this.receive();
    if (reply === null) throw new LinkClosedError('host closed the link');
    if (reply[0] !== 'DLMessageStatusResponse') {
      throw new ProtocolError('mobilebackup2', `expected DLMessageStatusResponse, got ${reply[0]}`);
    }
    const raw = reply[1];
    // libimobiledevice sends negative codes as unsigned 64-bit values.
    let status = typeof raw === 'bigint' ? Number(BigInt.asIntN(64, raw)) : typeof raw === 'number' ? raw : -1;
    if (status > 0x7fffffff) status = Number(BigInt.asIntN(64, BigInt(status)));
    return { status, message: typeof reply[2] === 'string' ? reply[2] : '', payload: reply[3] };
  }

  /**
   * Sends DLMessageDownloadFiles and reads the host's file stream: path → bytes, or absent when the
   * host reported an error (missing file) for it. A path `streamTo` gives a consumer for is not
   * collected: its bytes go to the consumer as they arrive, in pieces cut anywhere (each valid only
   * during the call), and the map holds an empty array for it once the host reported success.
   */
  async downloadFiles(paths: string[], progress: number, streamTo?: (path: string) => ((block: Uint8Array) => void) | undefined): Promise<Map<string, Uint8Array>> {
    const received = await this.downloadFileParts(paths, progress, streamTo);
    return new Map([...received].map(([name, data]) => [name, data.bytes()]));
  }

  /** downloadFiles, with each file kept in the chunks it arrived into (for a file too big to copy whole again). */
  async downloadFileParts(paths: string[], progress: number, streamTo?: (path: string) => ((block: Uint8Array) => void) | undefined): Promise<Map<string, ChunkedBytes>> {
    await this.send(['DLMessageDownloadFiles', paths, { DLDeviceIOCallbacks: 0 }, progressReal(progress), 0]);
    const reader = this.conn.reader;
    const files = new Map<string, ChunkedBytes>();
    // Both consumers below copy what they keep, so a copying reader (the USB path) fills one reused
    // buffer instead of fresh memory per piece; otherwise the pieces are views of what it holds.
    const scratch = reader.copies ? new Uint8Array(DOWNLOAD_SCRATCH_BYTES) : null;
    const nextPiece = async (left: number): Promise<Uint8Array | null> => {
      if (!scratch) return reader.readAvailable(left);
      const n = await reader.readAvailableInto(scratch.subarray(0, Math.min(left, scratch.byteLength)));
      return n === null ? null : scratch.subarray(0, n);
    };
    for (;;) {
      const nameLength = await reader.readUint32BE();
      if (nameLength === 0) break;
      if (nameLength > 4096) throw new ProtocolError('mobilebackup2', `file name length ${nameLength} too large`);
      const name = new TextDecoder().decode(await reader.readExactly(nameLength));
      const consumer = streamTo?.(name);
      const data = new ChunkedBytes();
      let ok = false;
      for (;;) {
        const blockLength = await reader.readUint32BE();
        if (blockLength === 0) throw new ProtocolError('mobilebackup2', 'empty block in file stream');
        const code = (await reader.readExactly(1))[0]!;
        const payloadLength = blockLength - 1;
        if (code === DL_CODE.fileData) {
          if (consumer) {
            // As the bytes come, in the reader's own pieces: a whole block joined first is fresh memory per block.
            for (let left = payloadLength; left > 0; ) {
              const piece = await nextPiece(left);
              if (piece === null) throw new ProtocolError('mobilebackup2', `connection closed inside ${name}`);
              consumer(piece);
              left -= piece.byteLength;
            }
            continue;
          }
          if (data.byteLength + payloadLength > MAX_DOWNLOAD_BYTES) throw new ProtocolError('mobilebackup2', `${name} is larger than ${MAX_DOWNLOAD_BYTES} bytes`);
          // Straight from the reader's buffer into the file's chunks: no copy of each block of its own.
          for (let left = payloadLength; left > 0; ) {
            const piece = await nextPiece(left);
            if (piece === null) throw new ProtocolError('mobilebackup2', `connection closed inside ${name}`);
            data.append(piece);
            left -= piece.byteLength;
          }
          continue;
        }
        if (payloadLength > 0) {
          if (payloadLength > 65536) throw new ProtocolError('mobilebackup2', 'oversized error text in file stream');
          await reader.readExactly(payloadLength);
        }
        ok = code === DL_CODE.success;
        break;
      }
      if (ok) files.set(name, data);
    }
    await this.statusResponse(); // 0, or -13 multi-status listing the missing ones
    return files;
  }
}

export function progressReal(percent: number): PlistReal {
  return new PlistReal(Math.max(0, Math.min(100, percent)));
}
