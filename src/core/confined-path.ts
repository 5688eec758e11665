import { CorruptBackupError } from './errors.ts';

/**
 * The one gate between a name that came from outside (a Manifest.db row, a zip entry, a device's
 * DeviceLink request, a picked folder) and a path we write to. Every writer asks here first, so a
 * hostile backup, zip or device cannot reach anything outside the folder it was given.
 */

/** Why a name was refused; the UI and the CLI show `describeRefusal`, tests match on the reason. */
export type RefusalReason =
  | 'parent' // a ".." part
  | 'absolute' // starts at "/" (or a drive letter)
  | 'backslash'
  | 'nul'
  | 'empty' // no name at all, or an empty part ("a//b") where a strict path is needed
  | 'dot' // a "." part where a strict path is needed
  | 'through-symlink' // a folder on the way is a symlink (of this backup, or already on disk)
  | 'collision' // lands on the same file as an earlier row on a case-insensitive or normalising file system
  | 'not-a-name' // a single file name was expected and this has folders in it
  | 'damaged' // the row's data could not be read (missing key, bad payload): skipped, not fatal
  | 'renamed'; // written, but under another name than its own (a link's stand-in file whose name a file of the backup has)

const REASONS: Record<RefusalReason, string> = {
  parent: 'it climbs out with “..”',
  absolute: 'it is an absolute path',
  backslash: 'it contains a backslash',
  nul: 'it contains a NUL character',
  empty: 'it has an empty name or an empty part',
  dot: 'it has a “.” part',
  'through-symlink': 'it runs through a symlink',
  collision: 'it lands on the same file as another entry',
  'not-a-name': 'it is not a single file name',
  damaged: 'it is damaged',
  renamed: 'its name was taken, so it was written under another',
};

/** A name refused by the gate; `path` is the name as it came (shown to the person), never a path we made. */
export class PathRefusedError extends CorruptBackupError {
  readonly path: string;
  readonly reason: RefusalReason;
  constructor(path: string, reason: RefusalReason, detail?: string) {
    super(`Refused “${printable(path)}”: ${REASONS[reason]}${detail ? ` (${printable(detail)})` : ''}.`);
    this.path = path;
    this.reason = reason;
  }
}

/** One refused row, as export results carry them across the worker boundary (structured-clonable). */
export interface Refusal {
  path: string;
  reason: RefusalReason;
  message: string;
}

export function refusalOf(error: PathRefusedError): Refusal {
  return { path: error.path, reason: error.reason, message: error.message };
}

/** Control characters would let a hostile name rewrite the terminal line that reports it. */
function printable(path: string): string {
  return path.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The reason one path part is unsafe, or undefined. */
export function partRefusal(part: string): RefusalReason | undefined {
  if (part.includes('\0')) return 'nul';
  if (part.includes('\\')) return 'backslash';
  if (part === '..') return 'parent';
  if (part === '.') return 'dot';
  if (part === '') return 'empty';
  return undefined;
}

/**
 * The parts of a relative path that must stay inside its root. `strict` (writers) refuses empty and
 * "." parts and a leading "/"; lenient (readers) treats them as spelling: "a//b/" is "a/b".
 */
export function confinedParts(path: string, options: { strict?: boolean } = {}): string[] {
  const strict = options.strict ?? true;
  if (path.includes('\0')) throw new PathRefusedError(path, 'nul');
  if (path.includes('\\')) throw new PathRefusedError(path, 'backslash');
  if (strict && (path.startsWith('/') || /^[A-Za-z]:/.test(path))) throw new PathRefusedError(path, 'absolute');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    const reason = partRefusal(part);
    if (reason === 'parent') throw new PathRefusedError(path, 'parent');
    if (reason === 'dot' || reason === 'empty') {
      if (strict) throw new PathRefusedError(path, reason);
      continue;
    }
    parts.push(part);
  }
  if (strict && parts.length === 0) throw new PathRefusedError(path, 'empty');
  return parts;
}

/** A strict relative path, "/"-joined. */
export function confinedPath(path: string): string {
  return confinedParts(path).join('/');
}

/** A single name (a folder we make from a UDID, a top-level file of a backup): no folders in it. */
export function confinedName(name: string): string {
  const parts = confinedParts(name);
  if (parts.length !== 1) throw new PathRefusedError(name, 'not-a-name');
  return parts[0]!;
}

/**
 * The key under which a case-insensitive, Unicode-normalising file system (APFS, HFS+, NTFS, FAT)
 * files a path: two names with the same key are the same file there.
 */
export function foldedKey(path: string): string {
  return path.normalize('NFD').toLowerCase().normalize('NFC');
}

export type ClaimKind = 'file' | 'directory' | 'symlink';

/**
 * The paths one writing run has claimed, so that no row writes through a symlink the same backup
 * created and no two rows land on one file. Symlinks are announced before anything is claimed
 * (`announceSymlink`), so a file row is refused whether its link comes before or after it.
 */
export class ConfinedTree {
  private readonly claims = new Map<string, { kind: ClaimKind; path: string }>();
  private readonly symlinks = new Set<string>();

  /** Registers a symlink row up front; returns its confined path (throws when the name itself is hostile). */
  announceSymlink(path: string): string {
    const clean = confinedPath(path);
    this.symlinks.add(foldedKey(clean));
    return clean;
  }

  /**
   * Claims `path` for one row; returns the confined path to write. Throws PathRefusedError when the
   * name is hostile, runs through a symlink of this run, or lands on something already claimed.
   */
  claim(path: string, kind: ClaimKind): string {
    const parts = confinedParts(path);
    const clean = parts.join('/');
    const key = foldedKey(clean);
    for (let i = 1; i < parts.length; i++) {
      const ancestor = foldedKey(parts.slice(0, i).join('/'));
      if (this.symlinks.has(ancestor)) throw new PathRefusedError(path, 'through-symlink', `“${parts.slice(0, i).join('/')}” is a symlink in this backup`);
      const held = this.claims.get(ancestor);
      if (held && held.kind !== 'directory') throw new PathRefusedError(path, 'collision', `“${held.path}” is a ${held.kind}`);
    }
    if (kind !== 'symlink' && this.symlinks.has(key)) throw new PathRefusedError(path, 'collision', 'a symlink of this backup has the same name');
    const held = this.claims.get(key);
    if (held && !(held.kind === 'directory' && kind === 'directory')) {
      throw new PathRefusedError(path, 'collision', held.path === clean ? 'it appears twice' : `same file as “${held.path}” on a case-insensitive or Unicode-normalising disk`);
    }
    if (!held) this.claims.set(key, { kind, path: clean });
    return clean;
  }
}

/** "3 files extracted, 2 refused: …" — the closing line of a run that skipped rows. */
export function refusalSummary(written: number, noun: string, refused: readonly Refusal[], verb = 'extracted'): string {
  const head = `${written} ${noun}${written === 1 ? '' : 's'} ${verb}`;
  if (refused.length === 0) return `${head}.`;
  const names = refused.slice(0, 5).map((r) => `“${printable(r.path)}”`).join(', ');
  return `${head}, ${refused.length} refused: ${names}${refused.length > 5 ? `, and ${refused.length - 5} more` : ''}.`;
}
