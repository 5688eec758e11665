import { CorruptBackupError } from '../core/errors.ts';
import { decodePlist, isPlistDict, PlistUid, type PlistDict, type PlistValue } from '../plist/index.ts';

/** One Manifest.db `file` blob (an NSKeyedArchiver'd MBFile), decoded. Times are Unix seconds. */
export interface MbFile {
  relativePath: string | undefined;
  size: number;
  mode: number;
  userId: number;
  groupId: number;
  inode: number;
  birth: number;
  lastModified: number;
  lastStatusChange: number;
  protectionClass: number;
  flags: number;
  /** u32 LE protection class + 40-byte wrapped key; encrypted backups only. */
  encryptionKey: Uint8Array | undefined;
  digest: Uint8Array | undefined;
  /** Symlink target (absolute device path). */
  target: string | undefined;
  extendedAttributes: Record<string, Uint8Array> | undefined;
}

export type EntryKind = 'file' | 'directory' | 'symlink';

const S_IFMT = 0xf000;

export function kindFromMode(mode: number): EntryKind | undefined {
  switch (mode & S_IFMT) {
    case 0x8000:
      return 'file';
    case 0x4000:
      return 'directory';
    case 0xa000:
      return 'symlink';
    default:
      return undefined;
  }
}

/** Manifest.db `flags`: 1 file, 2 directory, 4 symlink (16 marks "changed while uploading"). */
export function kindFromFlags(flags: number): EntryKind | undefined {
  if (flags & 2) return 'directory';
  if (flags & 4) return 'symlink';
  if (flags & 1) return 'file';
  return undefined;
}

function num(value: PlistValue | undefined): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return 0;
}

/**
 * Follows NSKeyedArchiver references the way Foundation does: from `$top.root` through UIDs,
 * never by fixed `$objects` positions (they vary between rows). Only the MBFile shapes are
 * needed here: strings, NSData/NSMutableData, and nested dicts are returned as-is.
 */
function resolver(archive: PlistDict): { root: PlistDict; deref(value: PlistValue | undefined): PlistValue | undefined } {
  const objects = archive['$objects'];
  const top = archive['$top'];
  if (!Array.isArray(objects) || !isPlistDict(top) || !(top['root'] instanceof PlistUid)) {
    throw new CorruptBackupError('A Manifest.db file record is not an NSKeyedArchiver archive.');
  }
  // Writers differ in how deep they nest: NS.data may itself be a reference (pyiosbackup does this).
  const deref = (value: PlistValue | undefined, depth = 0): PlistValue | undefined => {
    if (!(value instanceof PlistUid)) return value;
    if (depth > 8) throw new CorruptBackupError('A Manifest.db file record has a reference loop.');
    const target = objects[value.value];
    if (target === '$null') return undefined;
    if (isPlistDict(target)) {
      const data = deref(target['NS.data'], depth + 1);
      if (data instanceof Uint8Array) return data;
      const string = deref(target['NS.string'], depth + 1);
      if (typeof string === 'string') return string;
    }
    return deref(target, depth + 1);
  };
  const root = deref(top['root']);
  if (!isPlistDict(root)) throw new CorruptBackupError('A Manifest.db file record has no MBFile root object.');
  return { root, deref };
}

export function decodeMbFile(blob: Uint8Array): MbFile {
  let archive: PlistValue;
  try {
    archive = decodePlist(blob);
  } catch (cause) {
    throw new CorruptBackupError('A Manifest.db file record is not a valid property list.', cause);
  }
  if (!isPlistDict(archive)) throw new CorruptBackupError('A Manifest.db file record is not a dictionary.');
  const { root, deref } = resolver(archive);
  const get = (key: string) => deref(root[key]);
  const bytes = (key: string) => {
    const v = get(key);
    return v instanceof Uint8Array ? v : undefined;
  };
  const string = (key: string) => {
    const v = get(key);
    return typeof v === 'string' ? v : undefined;
  };
  let extendedAttributes: Record<string, Uint8Array> | undefined;
  const xattrs = get('ExtendedAttributes');
  const xattrDict = xattrs instanceof Uint8Array ? safeDecode(xattrs) : xattrs;
  if (isPlistDict(xattrDict)) {
    extendedAttributes = {};
    for (const [name, value] of Object.entries(xattrDict)) {
      const v = deref(value);
      if (v instanceof Uint8Array) extendedAttributes[name] = v;
      else if (typeof v === 'string') extendedAttributes[name] = new TextEncoder().encode(v);
    }
  }
  return {
    relativePath: string('RelativePath'),
    size: num(get('Size')),
    mode: num(get('Mode')),
    userId: num(get('UserID')),
    groupId: num(get('GroupID')),
    inode: num(get('InodeNumber')),
    birth: num(get('Birth')),
    lastModified: num(get('LastModified')),
    lastStatusChange: num(get('LastStatusChange')),
    protectionClass: num(get('ProtectionClass')),
    flags: num(get('Flags')),
    encryptionKey: bytes('EncryptionKey'),
    digest: bytes('Digest'),
    target: string('Target'),
    extendedAttributes,
  };
}

function safeDecode(bytes: Uint8Array): PlistValue | undefined {
  try {
    return decodePlist(bytes);
  } catch {
    return undefined;
  }
}
