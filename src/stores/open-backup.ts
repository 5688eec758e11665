import { LifeboatError } from '../core/errors.ts';
import type { BackupStore, BackupTree } from './backup-store.ts';
import { StoreError } from './errors.ts';

/**
 * One device's latest backup, or an earlier version of it, for reading (restore, the library).
 * A backup that is gone says so in the person's words; `where` names the store ("this browser’s storage").
 */
export async function openStoreBackup(store: BackupStore, udid: string, versionId: string | undefined, where: string): Promise<BackupTree> {
  if (versionId === undefined) {
    const tree = await store.current(udid);
    if (!tree) throw new LifeboatError('corrupt-backup', `That backup is no longer in ${where}.`);
    return tree;
  }
  try {
    return await store.openVersion(udid, versionId);
  } catch (error) {
    if (error instanceof StoreError && error.errno === 'ENOENT') throw new LifeboatError('corrupt-backup', `That earlier backup is no longer kept in ${where}.`);
    throw error;
  }
}
