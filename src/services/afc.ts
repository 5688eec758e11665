import { BufferedReader } from '../core/buffered-reader.ts';
import type { ByteStream } from '../core/byte-stream.ts';
import { LifeboatError, ProtocolError } from '../core/errors.ts';
import type { ServiceProvider } from './service-provider.ts';
import { concatBytes } from '../core/bytes.ts';

export const AFC_SERVICE = 'com.apple.afc';
const MAGIC = new TextEncoder().encode('CFA6LPAA');
const HEADER_BYTES = 40;
/** Bigger replies are refused: we only read small files (iTunes Files, lock file). */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

export const AFC_OP = {
  STATUS: 0x01,
  DATA: 0x02,
  REMOVE_PATH: 0x08,
  MAKE_DIR: 0x09,
  GET_FILE_INFO: 0x0a,
  FILE_OPEN: 0x0d,
  FILE_OPEN_RES: 0x0e,
  FILE_READ: 0x0f,
  FILE_WRITE: 0x10,
  FILE_CLOSE: 0x14,
  FILE_LOCK: 0x1b,
} as const;

export const AFC_MODE = { READ: 1, READ_WRITE: 2, WRITE_TRUNCATE: 3, READ_WRITE_TRUNCATE: 4, APPEND: 5, READ_APPEND: 6 } as const;
export const AFC_LOCK = { SHARED: 1 | 4, EXCLUSIVE: 2 | 4, UNLOCK: 8 | 4 } as const;
export const AFC_ERROR = { SUCCESS: 0, OBJECT_NOT_FOUND: 8, OP_WOULD_BLOCK: 19 } as const;

export class AfcError extends LifeboatError {
  constructor(
    readonly afcCode: number,
    operation: string,
    path?: string,
  ) {
    super('device-error', `The device's file service refused ${operation}${path ? ` on ${path}` : ''} (AFC error ${afcCode}).`);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Apple File Conduit: the subset a backup needs (file info, small reads, the sync lock file). */
export class AfcClient {
  private readonly reader: BufferedReader;
  private packetNumber = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly stream: ByteStream) {
    this.reader = new BufferedReader(stream, 'afc');
  }

  static async start(provider: ServiceProvider): Promise<AfcClient> {
    return new AfcClient(await provider.startService(AFC_SERVICE));
  }

  /** One request, one reply; requests are serialised because AFC answers in order. */
  private request(operation: number, headerData: Uint8Array, payload: Uint8Array = new Uint8Array(0)): Promise<{ op: number; data: Uint8Array }> {
    const run = async (): Promise<{ op: number; data: Uint8Array }> => {
      const thisLength = HEADER_BYTES + headerData.byteLength;
      const packet = new Uint8Array(thisLength + payload.byteLength);
      const view = new DataView(packet.buffer);
      packet.set(MAGIC, 0);
      view.setBigUint64(8, BigInt(packet.byteLength), true);
      view.setBigUint64(16, BigInt(thisLength), true);
      view.setBigUint64(24, BigInt(this.packetNumber++), true);
      view.setBigUint64(32, BigInt(operation), true);
      packet.set(headerData, HEADER_BYTES);
      packet.set(payload, thisLength);
      await this.stream.write(packet);
      const header = await this.reader.readExactly(HEADER_BYTES);
      for (let i = 0; i < 8; i++) if (header[i] !== MAGIC[i]) throw new ProtocolError('afc', 'bad packet magic', header);
      const hv = new DataView(header.buffer, header.byteOffset, HEADER_BYTES);
      const entire = Number(hv.getBigUint64(8, true));
      const op = Number(hv.getBigUint64(32, true));
      if (entire < HEADER_BYTES || entire > MAX_REPLY_BYTES) throw new ProtocolError('afc', `reply of ${entire} bytes`, header);
      const data = entire === HEADER_BYTES ? new Uint8Array(0) : (await this.reader.readExactly(entire - HEADER_BYTES)).slice();
      return { op, data };
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private static statusOf(reply: { op: number; data: Uint8Array }): number {
    if (reply.op !== AFC_OP.STATUS) return AFC_ERROR.SUCCESS;
    if (reply.data.byteLength < 8) throw new ProtocolError('afc', 'short status reply');
    return Number(new DataView(reply.data.buffer, reply.data.byteOffset, 8).getBigUint64(0, true));
  }

  private async expectSuccess(operation: string, path: string | undefined, reply: { op: number; data: Uint8Array }): Promise<void> {
    const code = AfcClient.statusOf(reply);
    if (code !== AFC_ERROR.SUCCESS) throw new AfcError(code, operation, path);
  }

  /** Key/value strings (`st_size`, `st_ifmt`, …), or null when the path does not exist. */
  async getFileInfo(path: string): Promise<Record<string, string> | null> {
    const reply = await this.request(AFC_OP.GET_FILE_INFO, cString(path));
    const code = AfcClient.statusOf(reply);
    if (code === AFC_ERROR.OBJECT_NOT_FOUND) return null;
    if (code !== AFC_ERROR.SUCCESS) throw new AfcError(code, 'get file info', path);
    const parts = decoder.decode(reply.data).split('\0');
    const info: Record<string, string> = {};
    for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i]) info[parts[i]!] = parts[i + 1]!;
    return info;
  }

  async makeDirectory(path: string): Promise<void> {
    await this.expectSuccess('make directory', path, await this.request(AFC_OP.MAKE_DIR, cString(path)));
  }

  async removePath(path: string): Promise<void> {
    await this.expectSuccess('remove', path, await this.request(AFC_OP.REMOVE_PATH, cString(path)));
  }

  async open(path: string, mode: number): Promise<bigint> {
    const header = new Uint8Array(8 + encoder.encode(path).byteLength + 1);
    new DataView(header.buffer).setBigUint64(0, BigInt(mode), true);
    header.set(cString(path), 8);
    const reply = await this.request(AFC_OP.FILE_OPEN, header);
    if (reply.op !== AFC_OP.FILE_OPEN_RES) {
      throw new AfcError(AfcClient.statusOf(reply) || -1, 'open', path);
    }
    return new DataView(reply.data.buffer, reply.data.byteOffset, 8).getBigUint64(0, true);
  }

  async read(handle: bigint, length: number): Promise<Uint8Array> {
    const header = new Uint8Array(16);
    const v = new DataView(header.buffer);
    v.setBigUint64(0, handle, true);
    v.setBigUint64(8, BigInt(length), true);
    const reply = await this.request(AFC_OP.FILE_READ, header);
    if (reply.op === AFC_OP.STATUS) await this.expectSuccess('read', undefined, reply);
    return reply.op === AFC_OP.DATA ? reply.data : new Uint8Array(0);
  }

  async write(handle: bigint, bytes: Uint8Array): Promise<void> {
    const header = new Uint8Array(8);
    new DataView(header.buffer).setBigUint64(0, handle, true);
    await this.expectSuccess('write', undefined, await this.request(AFC_OP.FILE_WRITE, header, bytes));
  }

  async close(handle: bigint): Promise<void> {
    const header = new Uint8Array(8);
    new DataView(header.buffer).setBigUint64(0, handle, true);
    await this.expectSuccess('close', undefined, await this.request(AFC_OP.FILE_CLOSE, header));
  }

  /** Returns the AFC status (0 = locked) so callers can retry on OP_WOULD_BLOCK. */
  async lock(handle: bigint, operation: number): Promise<number> {
    const header = new Uint8Array(16);
    const v = new DataView(header.buffer);
    v.setBigUint64(0, handle, true);
    v.setBigUint64(8, BigInt(operation), true);
    return AfcClient.statusOf(await this.request(AFC_OP.FILE_LOCK, header));
  }

  /**
   * Exclusive lock as iTunes takes it: up to `tries` attempts, waiting `delayMs` whenever the device
   * says another host holds it (OP_WOULD_BLOCK).
   */
  async lockExclusiveWithRetry(handle: bigint, options: { tries?: number; delayMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const tries = options.tries ?? 50;
    const delay = options.delayMs ?? 200;
    for (let i = 0; i < tries; i++) {
      options.signal?.throwIfAborted();
      const code = await this.lock(handle, AFC_LOCK.EXCLUSIVE);
      if (code === AFC_ERROR.SUCCESS) return;
      if (code !== AFC_ERROR.OP_WOULD_BLOCK) throw new AfcError(code, 'lock', '/com.apple.itunes.lock_sync');
      await new Promise((r) => setTimeout(r, delay));
    }
    throw new AfcError(AFC_ERROR.OP_WOULD_BLOCK, `lock after ${tries} tries (another computer may be syncing)`, '/com.apple.itunes.lock_sync');
  }

  /** Whole small file, or null if missing. Refuses files over `maxBytes`. */
  async readFile(path: string, maxBytes = 16 * 1024 * 1024): Promise<Uint8Array | null> {
    const info = await this.getFileInfo(path);
    if (!info) return null;
    const size = Number(info.st_size ?? '0');
    if (size > maxBytes) throw new AfcError(-1, `read (file of ${size} bytes is larger than ${maxBytes})`, path);
    const handle = await this.open(path, AFC_MODE.READ);
    try {
      const parts: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        const chunk = await this.read(handle, 64 * 1024);
        if (chunk.byteLength === 0) break;
        parts.push(chunk);
        total += chunk.byteLength;
        if (total > maxBytes) throw new AfcError(-1, 'read (file grew past the limit)', path);
      }
      return concatBytes(parts);
    } finally {
      await this.close(handle);
    }
  }

  async writeFile(path: string, bytes: Uint8Array): Promise<void> {
    const handle = await this.open(path, AFC_MODE.WRITE_TRUNCATE);
    try {
      for (let at = 0; at < bytes.byteLength; at += 64 * 1024) await this.write(handle, bytes.subarray(at, at + 64 * 1024));
    } finally {
      await this.close(handle);
    }
  }

  disconnect(): Promise<void> {
    return this.stream.close();
  }
}

function cString(s: string): Uint8Array {
  const b = encoder.encode(s);
  const out = new Uint8Array(b.byteLength + 1);
  out.set(b);
  return out;
}
