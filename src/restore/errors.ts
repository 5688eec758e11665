import { CorruptBackupError, LifeboatError } from '../core/errors.ts';

/** Device error 102: a restore already ran since the last reboot (`/var/.backup.i` exists). */
export class RebootRequiredError extends LifeboatError {
  constructor(detail?: string) {
    super('device-error', `The iPhone must restart before it can be restored again (device error 102${detail ? `: ${detail}` : ''}).`, {
      action: 'Restart the iPhone (or let it finish restarting), then start the restore again.',
    });
  }
}

/** The backup was made on a newer iOS than the target runs; a device only restores same-or-older backups. */
export class DeviceTooOldError extends LifeboatError {
  constructor(
    readonly backupVersion: string,
    readonly deviceVersion: string,
  ) {
    super('unsupported', `This backup was made on iOS ${backupVersion}, but the iPhone runs iOS ${deviceVersion}; it can only restore backups from iOS ${deviceVersion} or older.`, {
      action: `Update the iPhone to iOS ${backupVersion} or later (Settings → General → Software Update), then restore.`,
    });
  }
}

/** The backup is incomplete or payloads are missing, so restoring it would lose data. */
export class UnverifiableBackupError extends CorruptBackupError {
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message);
  }
}
