import { APPLE_EPOCH_OFFSET_SECONDS } from '../../plist/index.ts';
import type { BackupReader } from '../backup-reader.ts';
import { columnsOf, selectRows, tableExists, type Database, type Row } from '../sqlite.ts';

export type { Row };

/**
 * Apple timestamps: seconds since 2001-01-01, or nanoseconds since then in newer sms.db rows.
 * Anything above 1e12 cannot be seconds (that would be year 33,000), so it is nanoseconds.
 */
export function appleTime(value: unknown): string | undefined {
  const n = typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : NaN;
  if (!Number.isFinite(n) || n === 0) return undefined;
  const seconds = Math.abs(n) > 1e12 ? n / 1e9 : n;
  return new Date((seconds + APPLE_EPOCH_OFFSET_SECONDS) * 1000).toISOString();
}

export function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}

export function int(value: unknown): number {
  return typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : 0;
}

/** A database of one category, open for one read; `run` gets undefined when the backup does not hold it. */
export async function withDatabase<T>(
  reader: BackupReader,
  domain: string,
  relativePath: string,
  empty: T,
  run: (db: Database, query: (sql: string, bind?: (string | number | null)[]) => Row[], has: (table: string) => boolean, cols: (table: string) => Set<string>) => T | Promise<T>,
): Promise<T> {
  const db = await reader.openDatabase(domain, relativePath);
  if (!db) return empty;
  const name = `${domain}/${relativePath}`;
  try {
    return await run(
      db,
      (sql, bind = []) => selectRows(db, sql, bind, name),
      (table) => tableExists(db, table),
      (table) => columnsOf(db, table),
    );
  } finally {
    db.close();
  }
}

/**
 * Like withDatabase, but over the reader's shared (kept-open) copy, for databases read again and
 * again: search as you type, one conversation after another. `run` is synchronous on purpose: the
 * reader may close a shared database when others are opened, which cannot happen mid-query.
 */
export async function withSharedDatabase<T>(
  reader: BackupReader,
  domain: string,
  relativePath: string,
  empty: T,
  run: (db: Database, query: (sql: string, bind?: (string | number | null)[]) => Row[], has: (table: string) => boolean, cols: (table: string) => Set<string>) => T,
): Promise<T> {
  const db = await reader.sharedDatabase(domain, relativePath);
  if (!db) return empty;
  const name = `${domain}/${relativePath}`;
  return run(
    db,
    (sql, bind = []) => selectRows(db, sql, bind, name),
    (table) => tableExists(db, table),
    (table) => columnsOf(db, table),
  );
}

/** `text` for a LIKE pattern with `\` as the escape character (so % and _ match themselves). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const MIME_BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  webp: 'image/webp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  dng: 'image/x-adobe-dng',
  mov: 'video/quicktime',
  mp4: 'video/mp4',
  m4v: 'video/x-m4v',
  m4a: 'audio/mp4',
  caf: 'audio/x-caf',
  amr: 'audio/amr',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  aae: 'application/xml',
  txt: 'text/plain',
  vcf: 'text/vcard',
  pdf: 'application/pdf',
};

export function mimeFromName(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot >= 0 && MIME_BY_EXTENSION[name.slice(dot + 1).toLowerCase()]) || 'application/octet-stream';
}
