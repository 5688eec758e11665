import { LifeboatError } from '../core/errors.ts';

/** POSIX-style reasons a store operation failed; DeviceLink maps them to the codes the device knows. */
export type StoreErrno = 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ELOOP' | 'EIO' | 'ENOSPC' | 'EACCES' | 'EINVAL';

export class StoreError extends LifeboatError {
  readonly errno: StoreErrno;
  readonly path: string;
  constructor(errno: StoreErrno, path: string, detail?: string, cause?: unknown) {
    super('storage', `${describe(errno)}: ${path}${detail ? ` (${detail})` : ''}`, {
      action: errno === 'ENOSPC' ? 'Free up space on the backup drive and try again.' : undefined,
      cause,
    });
    this.errno = errno;
    this.path = path;
  }
}

function describe(errno: StoreErrno): string {
  switch (errno) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EEXIST':
      return 'File exists';
    case 'ENOTDIR':
      return 'Not a directory';
    case 'EISDIR':
      return 'Is a directory';
    case 'ELOOP':
      return 'Too many levels of symbolic links';
    case 'EIO':
      return 'Input/output error';
    case 'ENOSPC':
      return 'No space left on device';
    case 'EACCES':
      return 'Permission denied';
    case 'EINVAL':
      return 'Invalid path';
  }
}

/** Another tab or window already has this browser's backup store open for writing. */
export class StoreBusyError extends StoreError {
  constructor(path: string, cause?: unknown) {
    super('EACCES', path, 'the backup store is open in another tab or window; close it and try again', cause);
  }
}

/** A read-only view met a backup in the middle of being saved (its commit has not finished yet). */
export class BackupBeingSavedError extends StoreError {
  constructor(udid: string) {
    super('EIO', udid, 'this backup is being saved right now; try again in a moment');
  }
}
