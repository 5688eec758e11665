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
