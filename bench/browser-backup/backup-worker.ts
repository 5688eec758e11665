/// <reference lib="webworker" />
// Worker half of the OPFS backup bench: the virtual iPhone's services and the backup engine share
// this dedicated worker, joined by in-memory streams (no USB, no lockdown: the point is the
// DeviceLink path and OpfsBackupStore with sync access handles).
import { BackupEngine } from '../../src/backup/index.ts';
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

async function runBench(request: BenchRequest): Promise<BackupBenchOutcome> {
  const dataset = await benchDataset(request.dataset);
  const iphone = new VirtualIPhone({ dataset });
  const provider = directProvider(iphone);
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
    const result = await BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: { root: iphone.values.root }, full: true });
    const seconds = (performance.now() - started) / 1000;
    runs.push({ seconds, files: result.filesReceived, bytes: result.bytesReceived });
    // The backup must really be there before it counts.
    const tree = await store.current(iphone.udid);
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
