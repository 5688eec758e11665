/// <reference lib="webworker" />
// Worker half of the OPFS backup bench. One-worker layout (default): the virtual iPhone's services
// and the backup engine share this dedicated worker, joined by in-memory streams (no USB, no
// lockdown: the point is the DeviceLink path and OpfsBackupStore with sync access handles).
// Two-worker layout (`layout=two-workers`): the device runs in device-worker.ts and this worker
// reaches it as the app does in demo mode (USB over a MessagePort, mux, lockdown).
import { BackupEngine, readBackupValues, type BackupDeviceValues } from '../../src/backup/index.ts';
import { KeyValuePairingStore, LockdownClient, MemoryPairingDatabase } from '../../src/lockdown/index.ts';
import { MuxDeviceConnector } from '../../src/usbmux/index.ts';
import { connectWorkerUsbDevice, type MessagePortLike } from '../../src/virtual-iphone/usb/worker-bridge.ts';
import { ConnectionRefusedError } from '../../src/core/errors.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import type { ServiceProvider } from '../../src/services/service-provider.ts';
import { OpfsBackupStore } from '../../src/stores/opfs-backup-store.ts';
import { FolderBackupStore } from '../../src/stores/folder-backup-store.ts';
import { HandleBackend, type DirHandleLike } from '../../src/stores/handle-backend.ts';
import { VersionedBackupStore } from '../../src/stores/versioned-backup-store.ts';
import type { FileSink } from '../../src/stores/storage-backend.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { benchDataset } from './bench-datasets.ts';
import { DiscardBackend } from './discard-backend.ts';
import type { BackupBenchOutcome, BackupRunFigures, BenchRequest } from './protocol.ts';

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;

function directProvider(iphone: VirtualIPhone): ServiceProvider {
  return {
    async startService(name: string): Promise<ByteStream> {
      const handler = iphone.services.get(name);
      if (!handler) throw new ConnectionRefusedError(0, `no service ${name}`);
      const [host, device] = createStreamPair(1 << 20);
      handler(device);
      return host;
    },
  };
}

interface BenchDevice {
  provider: ServiceProvider;
  udid: string;
  deviceValues: BackupDeviceValues;
  close(): Promise<void>;
}

/** One-worker layout: the device's services in this worker. */
async function localDevice(kind: BenchRequest['dataset']): Promise<BenchDevice> {
  const iphone = new VirtualIPhone({ dataset: await benchDataset(kind) });
  return { provider: directProvider(iphone), udid: iphone.udid, deviceValues: { root: iphone.values.root }, close: async () => undefined };
}

/** Two-worker layout: the device in its own worker, reached as the app reaches it (USB, mux, lockdown). */
async function remoteDevice(port: MessagePort): Promise<BenchDevice> {
  const usbDevice = await connectWorkerUsbDevice(port as unknown as MessagePortLike);
  const connector = await MuxDeviceConnector.fromUsbDevice(usbDevice, { usb: new EventTarget() });
  const lockdown = await LockdownClient.connect(connector, { store: new KeyValuePairingStore(new MemoryPairingDatabase()), label: 'lifeboat-bench' });
  await lockdown.pair();
  await lockdown.startSession();
  return {
    provider: lockdown,
    udid: lockdown.udid,
    deviceValues: await readBackupValues(lockdown),
    close: async () => {
      await lockdown.close().catch(() => undefined);
      await connector.close().catch(() => undefined);
    },
  };
}

async function runBench(request: BenchRequest): Promise<BackupBenchOutcome> {
  const device = request.devicePort ? await remoteDevice(request.devicePort) : await localDevice(request.dataset);
  try {
    return await runBackups(request, device);
  } finally {
    await device.close();
  }
}

async function runBackups(request: BenchRequest, device: BenchDevice): Promise<BackupBenchOutcome> {
  const { provider, udid, deviceValues } = device;
  const origin = (await navigator.storage.getDirectory()) as unknown as DirHandleLike & { removeEntry(name: string, o?: { recursive?: boolean }): Promise<void> };
  const runs: BackupRunFigures[] = [];
  let storeKind = '';
  for (let i = 0; i < request.runs; i++) {
    const folder = `bench-backup-${i}`;
    await origin.removeEntry(folder, { recursive: true }).catch(() => undefined);
    const store = request.discard
      ? new VersionedBackupStore('opfs', new DiscardBackend())
      : request.profile
        ? await profiledStore(origin, folder)
        : request.folderStore
          ? await FolderBackupStore.open(await origin.getDirectoryHandle(folder, { create: true }), { interactive: false })
          : await OpfsBackupStore.open({ folder });
    storeKind = store.kind;
    const started = performance.now();
    const result = await BackupEngine.run({ provider, store, udid, deviceValues, full: true });
    const seconds = (performance.now() - started) / 1000;
    runs.push({ seconds, files: result.filesReceived, bytes: result.bytesReceived });
    // The backup must really be there before it counts.
    const tree = await store.current(udid);
    if (!tree || !(await tree.stat('Manifest.db'))) throw new Error('the backup is missing after commit');
    // The packed store holds sync access handles: release them or the folder cannot be deleted.
    if (store instanceof OpfsBackupStore) await store.close();
    await origin.removeEntry(folder, { recursive: true }).catch(() => undefined);
  }
  return { runs, store: storeKind };
}

/** Same store as OpfsBackupStore.open, with time and calls per backend method logged to the console. */
async function profiledStore(origin: DirHandleLike, folder: string): Promise<VersionedBackupStore> {
  const root = await origin.getDirectoryHandle(folder, { create: true });
  const backend = new HandleBackend(root, { preferSyncAccess: true, freeSpace: async () => 1e12 });
  const totals = new Map<string, { calls: number; ms: number }>();
  const proxy = new Proxy(backend, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'read') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      const time = async <T,>(k: string, f: () => Promise<T>): Promise<T> => {
        const t = performance.now();
        try {
          return await f();
        } finally {
          const e = totals.get(k) ?? { calls: 0, ms: 0 };
          e.calls++;
          e.ms += performance.now() - t;
          totals.set(k, e);
        }
      };
      return async (...args: unknown[]) => {
        const out = await time(String(prop), () => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args));
        if (prop !== 'createFile') return out;
        const sink = out as FileSink;
        return {
          write: (chunk: Uint8Array) => time('sink.write', () => sink.write(chunk)),
          close: () => time('sink.close', () => sink.close()),
          abort: () => sink.abort(),
        };
      };
    },
  });
  setTimeout(function report() {
    console.log(JSON.stringify([...totals].map(([k, v]) => [k, v.calls, Math.round(v.ms)])));
    setTimeout(report, 10_000);
  }, 10_000);
  return new VersionedBackupStore('opfs', proxy);
}

scope.addEventListener('message', (event: MessageEvent<BenchRequest>) => {
  runBench(event.data).then(
    (outcome) => scope.postMessage(outcome),
    (error: unknown) => scope.postMessage({ error: error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error) }),
  );
});
