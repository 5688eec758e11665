import { BufferedReader } from '../../core/buffered-reader.ts';
import type { ByteStream } from '../../core/byte-stream.ts';

export const AFC_SERVICE = 'com.apple.afc';

const MAGIC = new TextEncoder().encode('CFA6LPAA');
const HEADER = 40;
/** Largest request accepted (a FILE_WRITE payload); bigger is a broken client, not a file. */
const MAX_PACKET = 64 * 1024 * 1024;

export const AFC_OP = {
  status: 0x01, data: 0x02, readDir: 0x03, removePath: 0x08, makeDir: 0x09, getFileInfo: 0x0a, getDevInfo: 0x0b,
  fileOpen: 0x0d, fileOpenResult: 0x0e, fileRead: 0x0f, fileWrite: 0x10, fileSeek: 0x11, fileTell: 0x12, fileTellResult: 0x13,
  fileClose: 0x14, renamePath: 0x18, fileLock: 0x1b,
} as const;

export const AFC_ERROR = { success: 0, unknown: 1, invalidArg: 7, notFound: 8, isDir: 9, opNotSupported: 15, exists: 16, wouldBlock: 19, dirNotEmpty: 33 } as const;

interface Node {
  kind: 'file' | 'dir';
  data: Uint8Array;
  mtimeNs: bigint;
}

/** The media partition AFC exposes (/var/mobile/Media), in memory, shared by all AFC connections. */
export class AfcFilesystem {
  private readonly nodes = new Map<string, Node>([['/', { kind: 'dir', data: new Uint8Array(0), mtimeNs: 0n }]]);
  /** path → owner token of the lock holder. */
  private readonly locks = new Map<string, object>();
  /** Until when a simulated other host holds the sync lock. */
  externalLockUntil = 0;

  static normalize(path: string): string {
    const parts: string[] = [];
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') parts.pop();
      else parts.push(part);
    }
    return '/' + parts.join('/');
  }

  get(path: string): Node | undefined {
    return this.nodes.get(AfcFilesystem.normalize(path));
  }

  mkdirs(path: string): void {
    const norm = AfcFilesystem.normalize(path);
    let current = '';
    for (const part of norm.split('/').filter(Boolean)) {
      current += '/' + part;
      if (!this.nodes.has(current)) this.nodes.set(current, { kind: 'dir', data: new Uint8Array(0), mtimeNs: BigInt(Date.now()) * 1_000_000n });
    }
  }

  writeFile(path: string, data: Uint8Array): void {
    const norm = AfcFilesystem.normalize(path);
    this.mkdirs(norm.slice(0, norm.lastIndexOf('/')) || '/');
    this.nodes.set(norm, { kind: 'file', data, mtimeNs: BigInt(Date.now()) * 1_000_000n });
  }

  list(path: string): string[] | null {
    const norm = AfcFilesystem.normalize(path);
    if (this.nodes.get(norm)?.kind !== 'dir') return null;
    const prefix = norm === '/' ? '/' : norm + '/';
    const names = [...this.nodes.keys()].filter((p) => p.startsWith(prefix) && p !== norm && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length));
    return ['.', '..', ...names.sort()];
  }

  remove(path: string): number {
    const norm = AfcFilesystem.normalize(path);
    const node = this.nodes.get(norm);
    if (!node || norm === '/') return AFC_ERROR.notFound;
    if (node.kind === 'dir' && (this.list(norm)?.length ?? 0) > 2) return AFC_ERROR.dirNotEmpty;
    this.nodes.delete(norm);
    return AFC_ERROR.success;
  }

  rename(from: string, to: string): number {
    const a = AfcFilesystem.normalize(from);
    const b = AfcFilesystem.normalize(to);
    if (!this.nodes.has(a)) return AFC_ERROR.notFound;
    for (const [p, n] of [...this.nodes]) {
      if (p === a || p.startsWith(a + '/')) {
        this.nodes.delete(p);
        this.nodes.set(b + p.slice(a.length), n);
      }
    }
    return AFC_ERROR.success;
  }

  lock(path: string, owner: object, op: number): number {
    const norm = AfcFilesystem.normalize(path);
    if ((op & 8) !== 0) {
      if (this.locks.get(norm) === owner) this.locks.delete(norm);
      return AFC_ERROR.success;
    }
    if (Date.now() < this.externalLockUntil && norm === '/com.apple.itunes.lock_sync') return AFC_ERROR.wouldBlock;
    const holder = this.locks.get(norm);
    if (holder && holder !== owner) return AFC_ERROR.wouldBlock;
    this.locks.set(norm, owner);
    return AFC_ERROR.success;
  }

  releaseAll(owner: object): void {
    for (const [p, o] of [...this.locks]) if (o === owner) this.locks.delete(p);
  }
}

/** The default media files a phone has, incl. what idevicebackup2 copies into Info.plist. */
export function defaultMediaFilesystem(): AfcFilesystem {
  const fs = new AfcFilesystem();
  for (const dir of ['/DCIM', '/Books', '/Downloads', '/Photos', '/Recordings', '/iTunes_Control/iTunes', '/iTunes_Control/Music', '/PublicStaging']) fs.mkdirs(dir);
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  fs.writeFile('/iTunes_Control/iTunes/IC-Info.sidb', Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) & 255));
  fs.writeFile('/iTunes_Control/iTunes/iTunesPrefs', Uint8Array.from({ length: 256 }, (_, i) => (i * 13) & 255));
  fs.writeFile('/iTunes_Control/iTunes/iTunesPrefs.plist', text('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>SyncHistory</key><array/></dict></plist>\n'));
  fs.writeFile('/iTunes_Control/iTunes/PhotosFolderName', text('Pictures'));
  return fs;
}

interface OpenFile {
  path: string;
  position: number;
  writable: boolean;
}

/** com.apple.afc: the packet subset backup hosts use (backup.md §4.3). */
export function afcHandler(fs: AfcFilesystem): (stream: ByteStream) => void {
  return (stream) => {
    void serveAfc(stream, fs).catch(() => stream.close());
  };
}

/** Buffers fileWrite allocated with spare room at the end (file contents may grow into it). */
const grownBuffers = new WeakSet<ArrayBuffer>();

async function serveAfc(stream: ByteStream, fs: AfcFilesystem): Promise<void> {
  const reader = new BufferedReader(stream, 'afc');
  const owner = {};
  const handles = new Map<bigint, OpenFile>();
  let nextHandle = 1n;
  const reply = async (packetNum: bigint, op: number, headerData: Uint8Array, payload: Uint8Array = new Uint8Array(0)): Promise<void> => {
    const out = new Uint8Array(HEADER + headerData.byteLength + payload.byteLength);
    const view = new DataView(out.buffer);
    out.set(MAGIC, 0);
    view.setBigUint64(8, BigInt(out.byteLength), true);
    view.setBigUint64(16, BigInt(HEADER + headerData.byteLength), true);
    view.setBigUint64(24, packetNum, true);
    view.setBigUint64(32, BigInt(op), true);
    out.set(headerData, HEADER);
    out.set(payload, HEADER + headerData.byteLength);
    await stream.write(out);
  };
  const u64 = (value: number | bigint): Uint8Array => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(value), true);
    return b;
  };
  const status = (packetNum: bigint, code: number): Promise<void> => reply(packetNum, AFC_OP.status, u64(code));
  const strings = (list: string[]): Uint8Array => new TextEncoder().encode(list.map((s) => s + '\0').join(''));
  try {
    for (;;) {
      const header = await reader.readExactlyOrEnd(HEADER);
      if (header === null) break;
      const view = new DataView(header.buffer, header.byteOffset, HEADER);
      const entire = Number(view.getBigUint64(8, true));
      const thisLength = Number(view.getBigUint64(16, true));
      const packetNum = view.getBigUint64(24, true);
      const op = Number(view.getBigUint64(32, true));
      if (thisLength < HEADER || entire < thisLength || entire > MAX_PACKET) break;
      const headerData = (await reader.readExactly(thisLength - HEADER)).slice();
      const payload = entire > thisLength ? (await reader.readExactly(entire - thisLength)).slice() : new Uint8Array(0);
      const hv = new DataView(headerData.buffer);
      const path = (offset = 0): string => {
        const end = headerData.indexOf(0, offset);
        return new TextDecoder().decode(headerData.subarray(offset, end === -1 ? undefined : end));
      };
      switch (op) {
        case AFC_OP.readDir: {
          const list = fs.list(path());
          if (list) await reply(packetNum, AFC_OP.data, new Uint8Array(0), strings(list));
          else await status(packetNum, AFC_ERROR.notFound);
          break;
        }
        case AFC_OP.getFileInfo: {
          const node = fs.get(path());
          if (!node) {
            await status(packetNum, AFC_ERROR.notFound);
            break;
          }
          const size = node.kind === 'file' ? node.data.byteLength : 68;
          const info = ['st_size', String(size), 'st_blocks', String(Math.ceil(size / 512)), 'st_nlink', node.kind === 'dir' ? '2' : '1', 'st_ifmt', node.kind === 'dir' ? 'S_IFDIR' : 'S_IFREG', 'st_mtime', String(node.mtimeNs), 'st_birthtime', String(node.mtimeNs)];
          await reply(packetNum, AFC_OP.data, new Uint8Array(0), strings(info));
          break;
        }
        case AFC_OP.getDevInfo:
          await reply(packetNum, AFC_OP.data, new Uint8Array(0), strings(['Model', 'iPhone12,1', 'FSTotalBytes', String(128 * 1024 ** 3), 'FSFreeBytes', String(64 * 1024 ** 3), 'FSBlockSize', '4096']));
          break;
        case AFC_OP.makeDir:
          fs.mkdirs(path());
          await status(packetNum, AFC_ERROR.success);
          break;
        case AFC_OP.removePath:
          await status(packetNum, fs.remove(path()));
          break;
        case AFC_OP.renamePath: {
          const from = path();
          const to = path(headerData.indexOf(0) + 1);
          await status(packetNum, fs.rename(from, to));
          break;
        }
        case AFC_OP.fileOpen: {
          const mode = Number(hv.getBigUint64(0, true));
          const target = AfcFilesystem.normalize(path(8));
          const node = fs.get(target);
          if (node?.kind === 'dir') {
            await status(packetNum, AFC_ERROR.isDir);
            break;
          }
          if (!node && mode === 1) {
            await status(packetNum, AFC_ERROR.notFound);
            break;
          }
          const parent = target.slice(0, target.lastIndexOf('/')) || '/';
          if (!node && fs.get(parent)?.kind !== 'dir') {
            await status(packetNum, AFC_ERROR.notFound);
            break;
          }
          if (!node || mode === 3 || mode === 4) fs.writeFile(target, new Uint8Array(0));
          const handle = nextHandle++;
          handles.set(handle, { path: target, position: mode === 5 || mode === 6 ? fs.get(target)!.data.byteLength : 0, writable: mode !== 1 });
          await reply(packetNum, AFC_OP.fileOpenResult, u64(handle));
          break;
        }
        case AFC_OP.fileRead: {
          const file = handles.get(hv.getBigUint64(0, true));
          const length = Math.min(Number(hv.getBigUint64(8, true)), 4 * 1024 * 1024);
          const node = file && fs.get(file.path);
          if (!file || !node) {
            await status(packetNum, AFC_ERROR.invalidArg);
            break;
          }
          const chunk = node.data.subarray(file.position, file.position + length);
          file.position += chunk.byteLength;
          await reply(packetNum, AFC_OP.data, new Uint8Array(0), chunk);
          break;
        }
        case AFC_OP.fileWrite: {
          const file = handles.get(hv.getBigUint64(0, true));
          const node = file && fs.get(file.path);
          if (!file || !node || !file.writable) {
            await status(packetNum, AFC_ERROR.invalidArg);
            break;
          }
          // Grown geometrically: a file written in 64 KB pieces (the restore's app list for 2,000 apps) was copied whole per piece.
          const end = file.position + payload.byteLength;
          let data = node.data;
          if (end > data.byteLength) {
            // Only spare room this code made itself: another view's buffer may hold someone else's bytes.
            const room = data.byteOffset === 0 && data.buffer instanceof ArrayBuffer && grownBuffers.has(data.buffer) ? data.buffer.byteLength : 0;
            if (end <= room) {
              data = new Uint8Array(data.buffer, 0, end);
            } else {
              const grown = new Uint8Array(Math.max(end, data.byteLength * 2, 64 * 1024));
              grown.set(data, 0);
              grownBuffers.add(grown.buffer);
              data = grown.subarray(0, end);
            }
          }
          data.set(payload, file.position);
          node.data = data;
          node.mtimeNs = BigInt(Date.now()) * 1_000_000n;
          file.position = end;
          await status(packetNum, AFC_ERROR.success);
          break;
        }
        case AFC_OP.fileSeek: {
          const file = handles.get(hv.getBigUint64(0, true));
          const whence = Number(hv.getBigUint64(8, true));
          const offset = Number(hv.getBigInt64(16, true));
          if (!file) {
            await status(packetNum, AFC_ERROR.invalidArg);
            break;
          }
          const size = fs.get(file.path)?.data.byteLength ?? 0;
          file.position = Math.max(0, (whence === 0 ? 0 : whence === 1 ? file.position : size) + offset);
          await status(packetNum, AFC_ERROR.success);
          break;
        }
        case AFC_OP.fileTell: {
          const file = handles.get(hv.getBigUint64(0, true));
          if (file) await reply(packetNum, AFC_OP.fileTellResult, u64(file.position));
          else await status(packetNum, AFC_ERROR.invalidArg);
          break;
        }
        case AFC_OP.fileClose: {
          const handle = hv.getBigUint64(0, true);
          const file = handles.get(handle);
          handles.delete(handle);
          if (file) fs.lock(file.path, owner, 8 | 4);
          await status(packetNum, file ? AFC_ERROR.success : AFC_ERROR.invalidArg);
          break;
        }
        case AFC_OP.fileLock: {
          const file = handles.get(hv.getBigUint64(0, true));
          const lockOp = Number(hv.getBigUint64(8, true));
          await status(packetNum, file ? fs.lock(file.path, owner, lockOp) : AFC_ERROR.invalidArg);
          break;
        }
        default:
          await status(packetNum, AFC_ERROR.opNotSupported);
      }
    }
  } finally {
    fs.releaseAll(owner);
    await stream.close();
  }
}
