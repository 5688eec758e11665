import { CorruptBackupError } from '../core/errors.ts';
import { confinedParts } from '../core/confined-path.ts';

/** A file the backup's own records promise (Manifest.db row, Info.plist…) is not in the folder. */
export class MissingBackupFileError extends CorruptBackupError {
  readonly path: string;
  constructor(path: string, detail?: string) {
    super(`The backup is missing the file “${path}”${detail ? ` (${detail})` : ''}.`);
    this.path = path;
  }
}

/** The backup is encrypted and no password has been given yet. */
export class BackupLockedError extends CorruptBackupError {
  constructor() {
    super('This backup is encrypted. Enter its password to open it.');
  }
}

/**
 * Normalises a path read from a backup: "a//b/" → "a/b"; ".." , backslashes and NUL are refused
 * (PathRefusedError, a CorruptBackupError) so a hostile name cannot climb out of the backup.
 */
export function normalisePath(path: string): string {
  return confinedParts(path, { strict: false }).join('/');
}

/** The UI asked for an item (a contact, a conversation) the open backup does not hold, e.g. after it was reopened. */
export class ItemNotFoundError extends CorruptBackupError {
  constructor(what: string) {
    super(`${what} is not in this backup.`);
  }
}
