import { InsufficientSpaceError } from '../core/errors.ts';
import type { BackupStore } from '../stores/backup-store.ts';
import type { BackupProgress } from './progress.ts';

const MB = 1_000_000;
/** Megabytes as a person reads them: one decimal below 100 MB, whole (rounded up) above. */
const mb = (bytes: number): string => (bytes < 100 * MB ? `${Math.max(0.1, Math.ceil(bytes / (MB / 10)) / 10)} MB` : `${Math.ceil(bytes / MB).toLocaleString('en-US')} MB`);

/**
 * A store that filled up mid-backup, said with how much room the backup still needs: the device's
 * own percent when it has given one, else the size of this device's last backup (a full backup
 * needs about as much again), else only what had arrived. The last complete backup is untouched,
 * and what arrived is kept to continue from.
 */
export function storageFullError(
  store: Pick<BackupStore, 'kind'>,
  progress: Pick<BackupProgress, 'bytesReceived' | 'percent'>,
  lastBackupBytes?: number,
): InsufficientSpaceError {
  const where = store.kind === 'opfs' ? 'This browser’s storage for Lifeboat is full' : 'The backup drive is full';
  const received = progress.bytesReceived;
  const { percent } = progress;
  let need: string;
  if (percent !== null && percent >= 1 && percent < 100) {
    const total = received / (percent / 100);
    need = `This backup is about ${mb(total)} in all; ${mb(received)} had arrived (${Math.round(percent)}%), so it needs about ${mb(total - received)} more room.`;
  } else if (lastBackupBytes !== undefined && lastBackupBytes > received) {
    need = `${mb(received)} of this backup had arrived; the last backup of this device is ${mb(lastBackupBytes)}, so it needs up to about ${mb(lastBackupBytes - received)} more room.`;
  } else {
    need = `${mb(received)} of this backup had arrived; it needs more room than was left.`;
  }
  const keep = 'Your last complete backup is untouched, and what arrived is kept: the next backup continues from it.';
  const free =
    store.kind === 'opfs'
      ? 'Free space on this computer’s disk (the browser gives each site a share of it) or delete older backups in the Library, then back up again.'
      : 'Free space on the drive, then back up again.';
  return new InsufficientSpaceError(`${where} (device error 105). ${need} ${keep}`, free);
}
