import type { ByteStream } from '../../src/core/byte-stream.ts';
import { DeviceDisconnectedError } from '../../src/core/errors.ts';
import type { ServiceProvider } from '../../src/services/service-provider.ts';
import { StoreError } from '../../src/stores/errors.ts';
import type { DirectoryEntry, EntryStat, FileSink, StorageBackend } from '../../src/stores/storage-backend.ts';
import { MuxConnectionClosedError } from '../../src/usbmux/mux-errors.ts';

/**
 * The faults of the campaign, all triggered when the link has carried `point` bytes (host reads plus
 * writes, every service), so a point is a uniformly random moment of a run.
 * - unplug: every connection dies at once and new ones are refused (the cable is out);
 * - stall: every connection stops moving bytes, nothing is closed (a hung hub or device);
 * - rst: only the connection that carried the byte is reset by the device;
 * - device-error: the device ends the operation with an error at its next DeviceLink message;
 * - store-io: the next file-system write of the store fails (EIO, or ENOSPC on every other point);
 *   for a restore, which writes nothing, the next read of the backup fails instead;
 * - process-death: the host stops dead: no further byte, no store call, no cleanup; the device sees
 *   its connections close, as when the kernel closes a killed process's sockets.
 * - sigkill: the same, for real: the operation runs as a CLI child process, which gets SIGKILL at the
 *   point (cli-process.ts), leaving its files as the kernel has them.
 */
export type FaultKind = 'unplug' | 'stall' | 'rst' | 'device-error' | 'store-io' | 'process-death' | 'sigkill';
export const FAULT_KINDS: readonly FaultKind[] = ['unplug', 'stall', 'rst', 'device-error', 'store-io', 'process-death', 'sigkill'];

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** Counts bytes and fires the fault once the point is reached. */
export class FaultTrigger {
  moved = 0;
  fired = false;
  /** Set once the fault has fired; the failure modes below read these. */
  unplugged = false;
  stalled = false;
  dead = false;
  private readonly listeners: ((origin: FaultyStream | null) => void)[] = [];

  constructor(
    readonly kind: FaultKind | null,
    readonly point: number,
  ) {}

  onFire(listener: (origin: FaultyStream | null) => void): void {
    this.listeners.push(listener);
  }

  advance(bytes: number, origin: FaultyStream): void {
    this.moved += bytes;
    if (this.fired || this.kind === null || this.moved < this.point) return;
    this.fire(origin);
  }

  fire(origin: FaultyStream | null): void {
    if (this.fired) return;
    this.fired = true;
    if (this.kind === 'unplug') this.unplugged = true;
    if (this.kind === 'stall') this.stalled = true;
    if (this.kind === 'process-death') this.dead = true;
    for (const l of this.listeners) l(origin);
  }
}

/** The link between the host engine and the device, with the fault applied at its point. */
export class FaultyProvider implements ServiceProvider {
  private readonly streams = new Set<FaultyStream>();

  constructor(
    private readonly inner: ServiceProvider,
    readonly trigger: FaultTrigger,
  ) {
    trigger.onFire((origin) => {
      if (trigger.kind === 'unplug' || trigger.kind === 'process-death') for (const s of this.streams) s.cut();
      if (trigger.kind === 'rst') origin?.reset();
    });
  }

  /** The cable is pulled and put back: every connection of this link ends on both sides. */
  replug(): void {
    for (const s of this.streams) s.cut();
    this.streams.clear();
  }

  async startService(name: string, options?: { withEscrowBag?: boolean }): Promise<ByteStream> {
    if (this.trigger.dead) return never();
    if (this.trigger.unplugged) throw new DeviceDisconnectedError();
    const stream = new FaultyStream(await this.inner.startService(name, options), this.trigger, () => this.streams.delete(stream));
    this.streams.add(stream);
    return stream;
  }
}

export class FaultyStream implements ByteStream {
  private resetByDevice = false;
  private closed = false;
  private readonly closedWaiters: (() => void)[] = [];

  constructor(
    private readonly inner: ByteStream,
    private readonly trigger: FaultTrigger,
    private readonly forget: () => void,
  ) {}

  async read(): Promise<Uint8Array | null> {
    await this.gate();
    if (this.resetByDevice) return null;
    const chunk = await this.inner.read();
    await this.gate();
    if (this.resetByDevice) return null;
    if (chunk) this.trigger.advance(chunk.byteLength, this);
    if (this.trigger.dead) return never();
    if (this.trigger.unplugged) throw new DeviceDisconnectedError();
    if (this.resetByDevice) return null;
    return chunk;
  }

  async write(data: Uint8Array): Promise<void> {
    await this.gate();
    if (this.resetByDevice) throw new MuxConnectionClosedError(0, 'closed by the device');
    await this.inner.write(data);
    this.trigger.advance(data.byteLength, this);
    if (this.trigger.dead) return never();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.forget();
    for (const w of this.closedWaiters.splice(0)) w();
    if (!this.trigger.dead) await this.inner.close();
  }

  /** The device end sees the connection drop. */
  cut(): void {
    void this.inner.close();
  }

  reset(): void {
    this.resetByDevice = true;
    void this.inner.close();
  }

  /** Waits out a stall until the host closes this stream; a dead host waits for ever; unplugged throws. */
  private async gate(): Promise<void> {
    if (this.trigger.dead) return never();
    if (this.trigger.unplugged) throw new DeviceDisconnectedError();
    if (this.trigger.stalled && !this.closed) {
      await new Promise<void>((resolve) => this.closedWaiters.push(resolve));
      throw new DeviceDisconnectedError('The connection was closed while stalled.');
    }
  }
}

/** A StorageBackend whose next write (or read, with `failReads`) fails once the fault fires, or that stops dead (process-death). */
export class FaultyBackend implements StorageBackend {
  /** The write that failed, for the report. */
  failedOp: string | undefined;
  private failNext = false;
  writes = 0;

  constructor(
    private readonly inner: StorageBackend,
    private readonly trigger: FaultTrigger,
    private readonly errno: 'EIO' | 'ENOSPC' = 'EIO',
    private readonly failReads = false,
  ) {
    trigger.onFire(() => {
      if (trigger.kind === 'store-io') this.failNext = true;
    });
  }

  private async enter(op: string, path: string, write: boolean): Promise<void> {
    if (this.trigger.dead) return never();
    if (!write && !this.failReads) return;
    this.writes++;
    if (this.failNext) {
      this.failNext = false;
      this.failedOp = `${op} ${path}`;
      throw new StoreError(write ? this.errno : 'EIO', path, 'injected fault');
    }
  }

  async stat(path: string): Promise<EntryStat | null> {
    await this.enter('stat', path, false);
    return this.inner.stat(path);
  }

  async list(path: string): Promise<DirectoryEntry[]> {
    await this.enter('list', path, false);
    return this.inner.list(path);
  }

  async mkdirp(path: string): Promise<void> {
    await this.enter('mkdirp', path, true);
    return this.inner.mkdirp(path);
  }

  async createFile(path: string): Promise<FileSink> {
    await this.enter('createFile', path, true);
    const sink = await this.inner.createFile(path);
    return {
      write: async (chunk) => {
        await this.enter('write', path, true);
        return sink.write(chunk);
      },
      close: async () => {
        await this.enter('close', path, true);
        return sink.close();
      },
      abort: async () => {
        if (this.trigger.dead) return never();
        return sink.abort();
      },
    };
  }

  read(path: string, chunkSize: number): AsyncIterable<Uint8Array> {
    const inner = this.inner;
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        await self.enter('read', path, false);
        for await (const chunk of inner.read(path, chunkSize)) {
          await self.enter('read', path, false);
          yield chunk;
        }
      },
    };
  }

  async readAll(path: string): Promise<Uint8Array> {
    await this.enter('readAll', path, false);
    return this.inner.readAll(path);
  }

  async append(path: string, bytes: Uint8Array): Promise<void> {
    await this.enter('append', path, true);
    return this.inner.append(path, bytes);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.enter('rename', `${from} → ${to}`, true);
    return this.inner.rename(from, to);
  }

  async remove(path: string): Promise<void> {
    await this.enter('remove', path, true);
    return this.inner.remove(path);
  }

  async flush(): Promise<void> {
    await this.enter('flush', '', true);
    await this.inner.flush?.();
  }

  async freeSpace(): Promise<number> {
    await this.enter('freeSpace', '', false);
    return this.inner.freeSpace();
  }
}
