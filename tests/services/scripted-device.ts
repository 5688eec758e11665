import type { ByteStream } from '../../src/core/byte-stream.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { decodePlist, PlistReal, type PlistValue } from '../../src/plist/index.ts';
import { PlistConnection } from '../../src/plist/plist-connection.ts';
import type { ServiceProvider } from '../../src/services/service-provider.ts';

/** The device end of a DeviceLink conversation, driven step by step by a test. */
export class ScriptedDevice {
  readonly conn: PlistConnection;
  constructor(stream: ByteStream) {
    this.conn = new PlistConnection(stream, 'scripted device');
  }

  /** Raw body of the next plist message (to check encodings byte by byte). */
  async receiveRaw(): Promise<Uint8Array> {
    const length = await this.conn.reader.readUint32BE();
    return this.conn.reader.readExactly(length);
  }

  async receive(): Promise<PlistValue> {
    return decodePlist(await this.receiveRaw(), { reals: 'wrap' });
  }

  send(value: PlistValue): Promise<void> {
    return this.conn.send(value, 'xml');
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.conn.write(bytes);
  }

  async readU32(): Promise<number> {
    return this.conn.reader.readUint32BE();
  }

  async readBytes(n: number): Promise<Uint8Array> {
    return this.conn.reader.readExactly(n);
  }

  /** Reads one DownloadFiles answer stream: path → content or error text, until the terminator. */
  async readDownloadStream(): Promise<Map<string, { data?: Uint8Array; error?: string; blockSizes: number[] }>> {
    const out = new Map<string, { data?: Uint8Array; error?: string; blockSizes: number[] }>();
    const dec = new TextDecoder();
    for (;;) {
      const nameLen = await this.readU32();
      if (nameLen === 0) return out;
      const path = dec.decode(await this.readBytes(nameLen));
      const parts: Uint8Array[] = [];
      const blockSizes: number[] = [];
      for (;;) {
        const len = await this.readU32();
        const code = (await this.readBytes(1))[0];
        const payload = await this.readBytes(len - 1);
        if (code === 0x0c) {
          parts.push(payload.slice());
          blockSizes.push(payload.byteLength);
        } else if (code === 0x00) {
          out.set(path, { data: Buffer.concat(parts), blockSizes });
          break;
        } else {
          out.set(path, { error: dec.decode(payload), blockSizes });
          break;
        }
      }
    }
  }
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** Encodes one UploadFiles file entry: device name, destination, data blocks, trailer. */
export function uploadEntry(dest: string, data: Uint8Array, blockSize = 65536, trailer: 'ok' | { remoteError: string } = 'ok'): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const name = enc.encode(`HomeDomain-${dest}`);
  const path = enc.encode(dest);
  parts.push(u32(name.byteLength), name, u32(path.byteLength), path);
  for (let at = 0; at < data.byteLength; at += blockSize) {
    const piece = data.subarray(at, Math.min(data.byteLength, at + blockSize));
    parts.push(u32(piece.byteLength + 1), new Uint8Array([0x0c]), piece);
  }
  if (trailer === 'ok') parts.push(u32(1), new Uint8Array([0]));
  else {
    const msg = enc.encode(trailer.remoteError);
    parts.push(u32(msg.byteLength + 1), new Uint8Array([0x0b]), msg);
  }
  return Buffer.concat(parts);
}

/** A provider whose one service is the host end of a pair; the test drives the device end. */
export function scriptedProvider(): { provider: ServiceProvider; device: ScriptedDevice; started: string[] } {
  const [host, device] = createStreamPair(1 << 20);
  const started: string[] = [];
  return {
    provider: {
      async startService(name, options) {
        started.push(`${name}${options?.withEscrowBag ? '+escrow' : ''}`);
        return host;
      },
    },
    device: new ScriptedDevice(device),
    started,
  };
}

/** The device's side of a DeviceLink start: version exchange, ready, Hello answered. */
export async function handshake(device: ScriptedDevice): Promise<void> {
  await device.send(['DLMessageVersionExchange', 400, 0]);
  await device.receive();
  await device.send(['DLMessageDeviceReady']);
  await device.receive();
  await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 0, ProtocolVersion: new PlistReal(2.1) }]);
}
