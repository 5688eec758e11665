import { CorruptBackupError } from '../core/errors.ts';
import { decryptBlocks, stripPadding } from './crypto/aes-cbc.ts';
import { manifestRowOf, type ManifestEntry } from './manifest-db.ts';
import type { RangeReader } from './sqlite-scan/range-reader.ts';
import { SqliteFileScanner } from './sqlite-scan/sqlite-file-scanner.ts';
import type { SqlValue } from './sqlite-scan/record.ts';

/** One Manifest.db row with its MBFile blob (undefined when the row has none). */
export type ManifestRow = ManifestEntry & { blob: Uint8Array | undefined };

const BLOCK = 16;

/**
 * An AES-256-CBC file (zero IV, PKCS#7) read as its plaintext, any range at any time: each read
 * fetches the cipher block before the range as its IV. `size` is the plaintext length.
 */
export async function decryptingReader(cipher: RangeReader, key: CryptoKey, what: string): Promise<RangeReader> {
  if (cipher.size < BLOCK || cipher.size % BLOCK !== 0) {
    throw new CorruptBackupError(`${what} is damaged: its encrypted length (${cipher.size}) is not a whole number of blocks.`);
  }
  const read = async (start: number, end: number): Promise<Uint8Array> => {
    const from = Math.floor(start / BLOCK) * BLOCK;
    const to = Math.min(cipher.size, Math.ceil(end / BLOCK) * BLOCK);
    if (to <= from) return new Uint8Array(0);
    const previous = from === 0 ? undefined : await cipher.read(from - BLOCK, from);
    const bytes = await cipher.read(from, to);
    if (bytes.length !== to - from || (previous && previous.length !== BLOCK)) throw new CorruptBackupError(`${what} changed or was cut short while it was read.`);
    const plain = await decryptBlocks(key, previous, bytes, what);
    return plain.subarray(start - from, end - from);
  };
  const tail = await read(cipher.size - BLOCK, cipher.size);
  const size = cipher.size - BLOCK + stripPadding(tail).length;
  return { size, read: (start, end) => read(start, Math.min(end, size)) };
}

/**
 * A Files row from its columns' values as any reader gets them, taken leniently: text from whatever the
 * value is (a blob as UTF-8, nothing as ''), flags 0 unless a number, the MBFile only if it is a blob.
 */
export function manifestRowFromValues(fileID: SqlValue | undefined, domain: SqlValue | undefined, relativePath: SqlValue | undefined, flags: SqlValue | undefined, file: SqlValue | undefined): ManifestRow {
  const blob = file instanceof Uint8Array ? file : undefined;
  return manifestRowOf(text(fileID), text(domain), text(relativePath), Number(flags ?? 0) || 0, blob);
}

function text(v: SqlValue | undefined): string {
  return v === null || v === undefined ? '' : v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v);
}

/**
 * Manifest.db's Files rows straight from storage, in row-id order, without loading the database:
 * the pages are read (and decrypted) a window at a time as the scan reaches them. Memory stays at
 * a few MiB whether the backup holds a thousand files or 1.3 million.
 */
export async function* scanManifestRows(reader: RangeReader): AsyncGenerator<ManifestRow> {
  for await (const batch of scanManifestRowBatches(reader)) yield* batch;
}

/**
 * scanManifestRows, a page's rows at a time (what a scan of every row of a 1.3M-file backup wants).
 * `blobViews`: see SqliteFileScanner.rowBatches.
 */
export async function* scanManifestRowBatches(reader: RangeReader, blobViews = false): AsyncGenerator<ManifestRow[]> {
  const scanner = await SqliteFileScanner.open(reader, 'Manifest.db');
  const table = await scanner.table('Files');
  if (!table) throw new CorruptBackupError('Manifest.db has no Files table.');
  const { columns, rowidColumn } = table.shape;
  const find = (name: string) => columns.findIndex((c) => c.toLowerCase() === name.toLowerCase());
  const [fileID, domain, relativePath, flags, file] = ['fileID', 'domain', 'relativePath', 'flags', 'file'].map(find) as [number, number, number, number, number];
  if (fileID < 0 || domain < 0 || relativePath < 0) throw new CorruptBackupError('Manifest.db has no fileID, domain or relativePath column.');
  for await (const rows of scanner.rowBatches(table.rootPage, columns.length, blobViews)) {
    yield rows.map((row) => {
      const v = row.values;
      if (rowidColumn >= 0) v[rowidColumn] = row.rowid;
      return manifestRowFromValues(v[fileID], v[domain], v[relativePath], flags >= 0 ? v[flags] : undefined, file >= 0 ? v[file] : undefined);
    });
  }
}
