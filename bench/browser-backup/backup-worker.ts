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
import type { BackupBenchOutcome, BackupRunFigures, BenchRequest, LibraryFigures } from './protocol.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { loadSqlite } from '../../src/library/sqlite.ts';
import { OpfsScratch } from '../../src/library/source/scratch-copy.ts';
import type { BackupSource } from '../../src/library/source/backup-source.ts';
import { asPickedFolder } from '../../tests/helpers/picked-folder-source.ts';
import { StoreTreeSource } from '../../src/library/source/store-tree-source.ts';

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

/** The median of `runs` timings of `f`, in ms. */
async function medianMs(runs: number, f: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** The median time to list the biggest app's deepest first folder, and to run one name search. */
async function browseFigures(reader: BackupReader): Promise<{ listMs: number; listEntries: number; searchMs: number; firstSearchMs: number }> {
  const domains = reader.manifest.domains();
  // The biggest folder of the biggest app: what a person scrolling a big app's files opens.
  const biggest = domains.filter((d) => d.domain.startsWith('AppDomain-')).sort((a, b) => b.count - a.count)[0] ?? domains[0]!;
  let folder = '';
  let entries = reader.manifest.list(biggest.domain, folder);
  for (let depth = 0; depth < 3; depth++) {
    const dirs = entries.filter((e) => e.kind === 'directory');
    if (dirs.length === 0) break;
    folder = dirs[0]!.relativePath;
    entries = reader.manifest.list(biggest.domain, folder);
  }
  const listMs = await medianMs(7, () => reader.manifest.list(biggest.domain, folder));
  const searches = ['IMG_', 'Caches', 'no-such-name-anywhere'];
  // The first search reads its results' rows from storage; the repeats find SQLite's cache warm.
  let t = performance.now();
  for (const q of searches) reader.manifest.search(q);
  const firstSearchMs = (performance.now() - t) / searches.length;
  const searchMs = await medianMs(7, () => searches.map((q) => reader.manifest.search(q)));
  return { listMs, listEntries: entries.length, searchMs: searchMs / searches.length, firstSearchMs };
}

/** Opens the finished backup as the Library does and times the first listing, a big folder and name searches. */
async function libraryFigures(store: VersionedBackupStore, udid: string, password: string | undefined): Promise<LibraryFigures> {
  const tree = await store.current(udid);
  if (!tree) throw new Error('no backup to open in the Library');
  let t = performance.now();
  const reader = await BackupReader.open(new StoreTreeSource(tree, 'bench'));
  const openMs = performance.now() - t;
  let unlockMs: number | undefined;
  try {
    if (reader.encrypted) {
      if (password === undefined) throw new Error('the backup is encrypted and the bench has no password');
      t = performance.now();
      await reader.unlock(password);
      unlockMs = performance.now() - t;
    }
    t = performance.now();
    // As the Library's worker does: awaited, the index of an encrypted Manifest.db is decrypted ahead by WebCrypto.
    await reader.prepareIndex();
    reader.manifest.domains();
    const files = reader.summary().fileCount ?? 0;
    const indexMs = performance.now() - t;
    const { listMs, listEntries, searchMs } = await browseFigures(reader);
    const sqliteMemoryBytes = (await loadSqlite()).wasm.heap8u().byteLength;
    reader.close();
    const picked = await openAsPicked(new StoreTreeSource(tree, 'bench'), password);
    return { files, openMs, indexMs, listMs, listEntries, searchMs, unlockMs, sqliteMemoryBytes, picked };
  } finally {
    reader.close();
  }
}

/**
 * Opens `source` as the Library opens a picked folder's backup: no synchronous access handle, so Manifest.db is
 * read in place through its File (FileReaderSync), or copied to scratch where it cannot be; `via` says which.
 */
async function openAsPicked(source: BackupSource, password: string | undefined): Promise<LibraryFigures['picked']> {
  const picked = asPickedFolder(source);
  const scratch = new OpfsScratch(async () => (await navigator.storage.getDirectory()) as unknown as DirHandleLike, () => navigator.storage.estimate());
  let t = performance.now();
  const reader = await BackupReader.open(picked, { scratch });
  try {
    if (password !== undefined && reader.encrypted) await reader.unlock(password);
    const openMs = performance.now() - t;
    const via = (await scratchCopies()) > 0 ? 'a scratch copy' : 'in place';
    t = performance.now();
    await reader.prepareIndex();
    reader.manifest.domains();
    const indexMs = performance.now() - t;
    const { listMs, searchMs, firstSearchMs } = await browseFigures(reader);
    return { openMs, indexMs, listMs, searchMs, firstSearchMs, sqliteMemoryBytes: (await loadSqlite()).wasm.heap8u().byteLength, via };
  } finally {
    reader.close();
  }
}

/** Files in the Library's scratch folder (OpfsScratch's): a Manifest.db copied there while a backup is open. */
async function scratchCopies(): Promise<number> {
  const root = (await navigator.storage.getDirectory()) as unknown as DirHandleLike;
  let n = 0;
  try {
    for await (const _ of (await root.getDirectoryHandle('lifeboat-scratch')).values()) n++;
  } catch {
    return 0; // never made
  }
  return n;
}

/** 'huge': full backup, ≈1% of the phone changed, incremental backup into the same store, then the Library over it. */
async function runHuge(request: BenchRequest, device: BenchDevice): Promise<BackupBenchOutcome> {
  const { provider, udid, deviceValues } = device;
  const control = request.controlPort;
  if (!control) throw new Error('the huge bench needs the device worker (layout=two-workers)');
  const origin = (await navigator.storage.getDirectory()) as unknown as DirHandleLike & { removeEntry(name: string, o?: { recursive?: boolean }): Promise<void> };
  const folder = 'bench-backup-huge';
  await origin.removeEntry(folder, { recursive: true }).catch(() => undefined);
  const store = await OpfsBackupStore.open({ folder });
  const runs: BackupRunFigures[] = [];
  try {
    for (const full of [true, false]) {
      if (!full) {
        const mutated = new Promise<void>((resolve) => control.addEventListener('message', () => resolve(), { once: true }));
        control.start();
        control.postMessage('mutate');
        await mutated;
      }
      const started = performance.now();
      let stage = '';
      const onProgress = (p: { stage: string; filesReceived: number }): void => {
        if (p.stage === stage) return;
        stage = p.stage;
        console.log(`${full ? 'full' : 'incremental'}: ${stage} at ${((performance.now() - started) / 1000).toFixed(1)} s (${p.filesReceived} files)`);
      };
      const result = await BackupEngine.run({ provider, store, udid, deviceValues, full, onProgress });
      runs.push({ seconds: (performance.now() - started) / 1000, files: result.filesReceived, bytes: result.bytesReceived });
    }
    // The harness files heap peaks from here on under the Library (in the app it has a worker of its own).
    console.log('library: opening');
    runs[runs.length - 1]!.library = await libraryFigures(store, udid, request.password);
  } finally {
    await store.close();
    await origin.removeEntry(folder, { recursive: true }).catch(() => undefined);
  }
  return { runs, store: store.kind };
}

async function runBackups(request: BenchRequest, device: BenchDevice): Promise<BackupBenchOutcome> {
  if (request.dataset === 'huge') return runHuge(request, device);
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
        ? await profiledStore(origin, folder, request.folderStore === true)
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

/**
 * A store over a HandleBackend (sync access handles, or createWritable as in a picked folder) with the
 * calls and time per backend method logged to the console, and how many calls were in flight on average.
 */
async function profiledStore(origin: DirHandleLike, folder: string, asFolder: boolean): Promise<VersionedBackupStore> {
  const root = await origin.getDirectoryHandle(folder, { create: true });
  const backend = new HandleBackend(root, { preferSyncAccess: !asFolder, freeSpace: async () => 1e12 });
  const totals = new Map<string, { calls: number; ms: number }>();
  const started = performance.now();
  let busyMs = 0;
  const proxy = new Proxy(backend, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'read') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      const time = async <T,>(k: string, f: () => Promise<T>): Promise<T> => {
        const t = performance.now();
        try {
          return await f();
        } finally {
          const ms = performance.now() - t;
          const e = totals.get(k) ?? { calls: 0, ms: 0 };
          e.calls++;
          e.ms += ms;
          busyMs += ms;
          if (ms > 300) console.log(`${k} took ${Math.round(ms)} ms`);
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
    const inFlight = busyMs / (performance.now() - started);
    console.log(JSON.stringify([...totals].map(([k, v]) => [k, v.calls, Math.round(v.ms)])), `calls in flight on average: ${inFlight.toFixed(2)}`);
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
