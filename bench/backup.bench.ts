import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupEngine } from '../src/backup/index.ts';
import { createStreamPair } from '../src/core/stream-pair.ts';
import type { ServiceProvider } from '../src/services/service-provider.ts';
import { NodeFsBackupStore } from '../src/stores/node/node-fs-backup-store.ts';
import { installBackupServices } from '../src/virtual-iphone/services/index.ts';
import { VirtualIPhone } from '../src/virtual-iphone/virtual-iphone.ts';
import { median, type BenchResult } from './bench-result.ts';

/** Full backups of the virtual iPhone (medium dataset) into NodeFsBackupStore over in-memory service streams. */
export default async function backupBench(): Promise<BenchResult[]> {
  const iphone = new VirtualIPhone();
  const services = installBackupServices(iphone, { dataset: 'medium' });
  await services.ready;
  await services.dataset();
  const provider: ServiceProvider = {
    async startService(name) {
      const handler = iphone.services.get(name);
      if (!handler) throw new Error(`no service ${name}`);
      const [host, device] = createStreamPair(1 << 20);
      handler(device);
      return host;
    },
  };
  const filesPerSecond: number[] = [];
  const mbPerSecond: number[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'lifeboat-bench-backup-'));
    try {
      const store = await NodeFsBackupStore.open(dir);
      const start = performance.now();
      const r = await BackupEngine.run({ provider, store, udid: iphone.udid, deviceValues: { root: iphone.values.root }, full: true });
      const seconds = (performance.now() - start) / 1000;
      filesPerSecond.push(r.filesReceived / seconds);
      mbPerSecond.push(r.bytesReceived / 1e6 / seconds);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return [
    { name: 'backup full (medium) files/s into NodeFsBackupStore', value: median(filesPerSecond), unit: 'files/s', target: 1000, better: 'higher' },
    { name: 'backup full (medium) MB/s into NodeFsBackupStore', value: median(mbPerSecond), unit: 'MB/s', target: 30, better: 'higher' },
  ];
}
