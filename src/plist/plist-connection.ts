import { BufferedReader } from '../core/buffered-reader.ts';
import type { ByteStream } from '../core/byte-stream.ts';
import { ProtocolError } from '../core/errors.ts';
import { encodeBinaryPlist } from './binary-encode.ts';
import { decodePlist } from './decode.ts';
import { PlistError } from './errors.ts';
import type { PlistValue } from './types.ts';
import { encodeXmlPlist } from './xml-encode.ts';

/** Largest message accepted; a bigger declared length is a broken or hostile peer, not a plist. */
export const MAX_PLIST_MESSAGE_BYTES = 32 * 1024 * 1024;

/**
 * The framing lockdownd and every plist service share: each message is a big-endian u32 length
 * followed by a plist body (XML or binary; the receiver detects which).
 */
export class PlistConnection {
  /** DeviceLink interleaves raw file bytes between messages; read them through this reader. */
  readonly reader: BufferedReader;

  constructor(
    readonly stream: ByteStream,
    private readonly layer = 'plist service',
  ) {
    this.reader = new BufferedReader(stream, layer);
  }

  async send(value: PlistValue, format: 'xml' | 'binary' = 'xml'): Promise<void> {
    const body = format === 'binary' ? encodeBinaryPlist(value) : encodeXmlPlist(value);
    const frame = new Uint8Array(4 + body.byteLength);
    new DataView(frame.buffer).setUint32(0, body.byteLength);
    frame.set(body, 4);
    await this.stream.write(frame);
  }

  /** The next message; ProtocolError if the stream ends or the peer sends something unframed. */
  async receive(): Promise<PlistValue> {
    const value = await this.receiveOrEnd();
    if (value === null) throw new ProtocolError(this.layer, 'connection closed while a message was expected');
    return value;
  }

  /** The next message, or null if the peer closed cleanly between messages. */
  async receiveOrEnd(): Promise<PlistValue | null> {
    const header = await this.reader.readExactlyOrEnd(4);
    if (header === null) return null;
    const length = ((header[0]! << 24) | (header[1]! << 16) | (header[2]! << 8) | header[3]!) >>> 0;
    if (length > MAX_PLIST_MESSAGE_BYTES) {
      throw new ProtocolError(this.layer, `message length ${length} exceeds ${MAX_PLIST_MESSAGE_BYTES} bytes`, header);
    }
    if (length === 0) throw new ProtocolError(this.layer, 'empty message', header);
    const body = await this.reader.readExactly(length);
    try {
      return decodePlist(body);
    } catch (error) {
      if (error instanceof PlistError) {
        throw new ProtocolError(this.layer, `undecodable message: ${error.message}`, body.subarray(0, 64), error);
      }
      throw error;
    }
  }

  /** Raw bytes on the same stream (DeviceLink file data, or a bare header). */
  write(raw: Uint8Array): Promise<void> {
    return this.stream.write(raw);
  }

  close(): Promise<void> {
    return this.stream.close();
  }
}
