import { concatBytes } from '../../src/core/bytes.ts';
import { LifeboatError } from '../../src/core/errors.ts';
import { encodeBinaryPlist, encodeXmlPlist, PlistReal, type PlistValue } from '../../src/plist/index.ts';
import { MobileBackup2Client, type DeviceLinkFileSystem } from '../../src/services/mobilebackup2.ts';
import type { UploadSink, UploadSinkNow } from '../../src/services/devicelink-files.ts';
import { uploadEntry, u32 } from '../../tests/services/scripted-device.ts';
import type { Rng } from '../rng.ts';
import { ReplayStream } from '../streams.ts';
import type { FuzzTarget } from '../target.ts';

/** A DeviceLink folder in memory: enough for every request to do its real work. */
class MemoryFs implements DeviceLinkFileSystem {
  readonly files = new Map<string, number>();
  async createFile(path: string): Promise<UploadSink> {
    let size = 0;
    return {
      chunksReusable: true,
      write: async (chunk) => {
        size += chunk.byteLength;
      },
      close: async () => void this.files.set(path, size),
      abort: async () => {},
    };
  }
  async *read(path: string, chunkSize: number): AsyncIterable<Uint8Array> {
    const size = this.files.get(path);
    if (size === undefined) throw Object.assign(new Error(`no such file ${path}`), { code: 'ENOENT' });
    for (let at = 0; at < size; at += chunkSize) yield new Uint8Array(Math.min(chunkSize, size - at));
  }
  async list() {
    return [...this.files].slice(0, 8).map(([name, size]) => ({ name, kind: 'file' as const, size, mtime: new Date(0) }));
  }
  async mkdirp() {}
  async move(from: string, to: string) {
    const size = this.files.get(from);
    if (size === undefined) throw Object.assign(new Error(`no such file ${from}`), { code: 'ENOENT' });
    this.files.delete(from);
    this.files.set(to, size);
  }
  async remove(path: string) {
    this.files.delete(path);
  }
  async copy(from: string, to: string) {
    this.files.set(to, this.files.get(from) ?? 0);
  }
  async freeSpace() {
    return 1e12;
  }
  async purge() {
    return false;
  }
  async sync() {}
}

/** The same folder with the synchronous calls a Node store offers: uploads and moves take the promise-free path. */
class NowMemoryFs extends MemoryFs {
  createFileNow(path: string): UploadSinkNow {
    let size = 0;
    return {
      writeNow: (chunk) => void (size += chunk.byteLength),
      closeNow: () => void this.files.set(path, size),
      abortNow: () => {},
    };
  }
  moveNow(from: string, to: string): boolean {
    if (!this.files.has(from)) return false;
    this.files.set(to, this.files.get(from)!);
    this.files.delete(from);
    return true;
  }
}

function frame(value: PlistValue, binary: boolean): Uint8Array {
  const body = binary ? encodeBinaryPlist(value) : encodeXmlPlist(value);
  return concatBytes([u32(body.length), body]);
}

const PROGRESS = new PlistReal(42.5);

/** What a device says during a backup: version exchange, Hello, then DL requests and their file streams. */
function conversation(rng: Rng | undefined): Uint8Array {
  const binary = rng ? rng.chance(0.5) : true;
  const parts: Uint8Array[] = [
    frame(['DLMessageVersionExchange', 300, 0], binary),
    frame(['DLMessageDeviceReady'], binary),
    frame(['DLMessageProcessMessage', { ErrorCode: 0, ProtocolVersion: new PlistReal(2.1) }], binary),
  ];
  const requests: (() => Uint8Array[])[] = [
    // Announced small, the batch is read whole and answered before it is stored; large, stored as it streams.
    () => [frame(['DLMessageUploadFiles', {}, PROGRESS, rng?.chance(0.5) ? 5_000_000 : 3000], binary), uploadEntry('Snapshot/ab/abcdef', new Uint8Array(rng ? rng.size(3000) : 100).fill(7), rng ? 1 + rng.size(2000) : 64), uploadEntry('Snapshot/Manifest.db', new Uint8Array(5), 3, { remoteError: 'nope' }), u32(0)],
    () => [frame(['DLMessageDownloadFiles', ['Snapshot/ab/abcdef', 'missing'], {}, PROGRESS], binary)],
    () => [frame(['DLMessageGetFreeDiskSpace', {}], binary)],
    () => [frame(['DLMessagePurgeDiskSpace', 1000], binary)],
    () => [frame(['DLContentsOfDirectory', 'Snapshot'], binary)],
    () => [frame(['DLMessageCreateDirectory', 'Snapshot/cd'], binary)],
    () => [frame(['DLMessageMoveItems', { 'Snapshot/ab/abcdef': 'ab/abcdef' }, {}, PROGRESS], binary)],
    () => [frame(['DLMessageRemoveItems', ['ab/abcdef', 'nothing'], {}, PROGRESS], binary)],
    () => [frame(['DLMessageCopyItem', 'a', 'b'], binary)],
    () => [frame(['DLMessageSomethingNew', 1], binary)],
  ];
  const n = rng ? rng.below(6) : requests.length;
  for (let i = 0; i < n; i++) parts.push(...(rng ? rng.pick(requests) : requests[i]!)());
  parts.push(frame(['DLMessageProcessMessage', { ErrorCode: 0, MessageName: 'Response' }], binary));
  return concatBytes(parts);
}

export const deviceLink: FuzzTarget = {
  name: 'devicelink',
  async seeds() {
    return [conversation(undefined)];
  },
  generate: (rng) => conversation(rng),
  maxInput: 128 * 1024,
  async run(input) {
    // Each input three times: through readers that keep views, through copying ones (the CLI's socket),
    // which put file data into pooled pieces, and through a copying one into a folder with synchronous
    // calls (the CLI's Node store), which stores data straight from the reader's memory. The first
    // unexpected error wins; else the first expected one.
    let failure: unknown;
    for (const [copying, fs] of [[false, new MemoryFs()], [true, new MemoryFs()], [true, new NowMemoryFs()]] as const) {
      try {
        const provider = { startService: async () => new ReplayStream(input, undefined, copying) };
        const client = await MobileBackup2Client.start(provider);
        await client.runLoop(fs, { onWarning: () => {} });
      } catch (e) {
        if (!(e instanceof LifeboatError)) throw e;
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  },
  expected: (e) => e instanceof LifeboatError,
};
