import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupEngine } from '../../src/backup/index.ts';
import type { RestoreDeviceValues } from '../../src/restore/index.ts';
import { NodeFsBackupStore } from '../../src/stores/node/node-fs-backup-store.ts';
import type { TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';
import { VirtualIPhone, type VirtualIPhoneOptions } from '../../src/virtual-iphone/virtual-iphone.ts';
import { DirectServiceProvider } from '../backup/direct-service-provider.ts';

export const FAST_KDF = { dpic: 1000, iter: 10 };
export const SOURCE_UDID = '00008030-000A11CE0000502E';
export const TARGET_UDID = '00008101-000B0B000000702E';

export function iphone(options: VirtualIPhoneOptions = {}): VirtualIPhone {
  return new VirtualIPhone({ dataset: 'small', kdf: FAST_KDF, ...options });
}

export function restoreValuesOf(device: VirtualIPhone): RestoreDeviceValues {
  return { root: device.values.root, findMy: device.values.domains['com.apple.fmip'], diskUsage: device.values.domains['com.apple.disk_usage'] };
}

/** Backs `device` up with Lifeboat's BackupEngine into a fresh NodeFsBackupStore under a temp dir. */
export async function lifeboatBackup(device: VirtualIPhone): Promise<{ dir: string; store: NodeFsBackupStore; truth: TruthEntry[]; cleanup: () => Promise<void> }> {
  await device.backup.ready;
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-restore-'));
  const store = await NodeFsBackupStore.open(dir);
  const backup = device.values.domains['com.apple.mobile.backup'];
  await BackupEngine.run({
    provider: new DirectServiceProvider(device),
    store,
    udid: device.udid,
    deviceValues: { root: device.values.root, iTunesSettings: device.values.domains['com.apple.iTunes'] ?? {}, willEncrypt: backup?.['WillEncrypt'] === true },
  });
  const encrypted = device.backup.state.encryption !== null;
  const truth = await (await device.backup.dataset()).truth(encrypted);
  return { dir, store, truth, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Truth entries as comparable strings, sorted. */
export function truthKeys(truth: readonly TruthEntry[]): string[] {
  return truth.map((e) => `${e.domain}|${e.relativePath}|${e.kind}|${e.size}|${e.sha256 ?? ''}|${e.target ?? ''}`).sort();
}
