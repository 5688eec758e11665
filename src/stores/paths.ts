import { StoreError } from './errors.ts';
import { partRefusal } from '../core/confined-path.ts';

/**
 * Store paths are '/'-joined relative strings; '' is the root. Anything a device sends is checked here
 * so a hostile peer can never escape the backup folder (no '..', no absolute paths, no empty parts);
 * the part rules are the confinement gate's (src/core/confined-path.ts), shared with every writer.
 */
export function splitPath(path: string): string[] {
  if (path === '' || path === '/') return [];
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  const parts = trimmed.split('/');
  for (const part of parts) {
    if (partRefusal(part)) {
      throw new StoreError('EINVAL', path, 'path must be relative and may not contain "..", "." or empty parts');
    }
  }
  return parts;
}

/** A path splitPath would change or refuse: a '.' or '..' part, an empty part, a leading or trailing '/', a backslash, NUL. */
const NOT_NORMAL = /(^|\/)\.{1,2}(\/|$)|\/\/|^\/|\/$|\\|\0/;

export function normalizePath(path: string): string {
  // Nearly every path is normal already, and this runs several times per file a backup receives.
  if (!NOT_NORMAL.test(path)) return path;
  return splitPath(path).join('/');
}

export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/**
 * A name as its own string, for names kept long (one per file of a backup). A name cut from a path
 * with slice() is, in V8, a view that keeps the whole path alive: at 1.3M files that is over 100 MB
 * of paths. A JSON round trip copies it (keeping lone surrogates as they are); short names are
 * copied by slice() already.
 */
export function ownName(name: string): string {
  return name.length < 13 ? name : (JSON.parse(JSON.stringify(name)) as string);
}

/** '' and every proper ancestor of `path`, then `path` itself (shortest first). */
export function selfAndAncestors(path: string): string[] {
  if (path === '') return [''];
  const parts = path.split('/');
  const out = [''];
  for (let i = 1; i <= parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}
