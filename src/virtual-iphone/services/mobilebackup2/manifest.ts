import { archive, decodePlist, encodeBinaryPlist, isPlistDict, unarchive, type PlistDict, type PlistValue } from '../../../plist/index.ts';
import type { DatasetEntry } from '../../dataset/dataset.ts';
import { buildDatabase, openDatabase } from '../../dataset/sqlite.ts';
import { fileIdFor, MANIFEST_FLAGS } from './backup-files.ts';
import { scanManifestRows } from '../../../library/manifest-scan.ts';

/** One row of Manifest.db as the device writes it. */
export interface ManifestRow {
  fileId: string;
  domain: string;
  relativePath: string;
  flags: number;
  entry: DatasetEntry;
  /** MBFile EncryptionKey (encrypted backups, files only). */
  encryptionKey?: Uint8Array;
}

/** MBFile metadata read back from a host's Manifest.db (what the incremental diff needs). */
export interface PreviousRow {
  fileId: string;
  flags: number;
  size: number;
  lastModified: number;
  encryptionKey?: Uint8Array;
}

const MOBILE_UID = 501;

/**
 * A previous Manifest.db bigger than this is read with the host's in-place scanner instead of being
 * copied into SQLite WASM, whose whole heap is 2 GB: a 1.3M-file backup's is 1.19 GB, and copying it
 * in beside SQLite's own pages risks that limit (not tried: the scanner needs no copy at all).
 * Smaller ones keep SQLite as the independent reader.
 */
const IN_PLACE_BYTES = 512 * 1024 * 1024;

function previousRow(fileId: string, flags: number, blob: Uint8Array): PreviousRow | undefined {
  const file = unarchive(decodePlist(blob));
  if (!isPlistDict(file)) return undefined;
  const key = (file as PlistDict)['EncryptionKey'];
  return {
    fileId,
    flags,
    size: numberField(file['Size']),
    lastModified: numberField(file['LastModified']),
    ...(key instanceof Uint8Array ? { encryptionKey: key } : {}),
  };
}

async function scanManifestDb(bytes: Uint8Array): Promise<Map<string, PreviousRow> | null> {
  const rows = new Map<string, PreviousRow>();
  try {
    const reader = { size: bytes.byteLength, read: async (start: number, end: number) => bytes.subarray(start, Math.min(end, bytes.byteLength)) };
    for await (const row of scanManifestRows(reader)) {
      if (!row.blob || row.fileID === '') continue;
      const previous = previousRow(row.fileID, row.flags, row.blob);
      if (previous) rows.set(row.fileID, previous);
    }
    return rows;
  } catch {
    return null;
  }
}

/** The NSKeyedArchiver MBFile blob for one entry. */
export function mbFileBlob(row: ManifestRow): Uint8Array {
  const e = row.entry;
  const object = {
    $class: 'MBFile',
    LastModified: e.mtime,
    Flags: 0,
    GroupID: MOBILE_UID,
    LastStatusChange: e.mtime,
    Birth: e.mtime,
    Size: e.kind === 'file' ? e.size : 0,
    InodeNumber: e.inode,
    Mode: e.mode,
    UserID: MOBILE_UID,
    ProtectionClass: e.protectionClass,
    RelativePath: e.relativePath,
    ...(e.target !== undefined ? { Target: e.target } : {}),
    ...(row.encryptionKey ? { EncryptionKey: row.encryptionKey } : {}),
  };
  return encodeBinaryPlist(archive(object));
}

export function manifestRow(entry: DatasetEntry, encryptionKey?: Uint8Array): ManifestRow {
  return {
    fileId: fileIdFor(entry.domain, entry.relativePath),
    domain: entry.domain,
    relativePath: entry.relativePath,
    flags: MANIFEST_FLAGS[entry.kind],
    entry,
    ...(encryptionKey ? { encryptionKey } : {}),
  };
}

/** Manifest.db bytes (plaintext SQLite) with the schema and indexes real backups have. */
export function buildManifestDb(rows: readonly ManifestRow[]): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`
      CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
      CREATE INDEX FilesDomainIdx ON Files(domain);
      CREATE INDEX FilesRelativePathIdx ON Files(relativePath);
      CREATE INDEX FilesFlagsIdx ON Files(flags);
      CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);
    `);
    const stmt = db.prepare('INSERT OR REPLACE INTO Files VALUES (?, ?, ?, ?, ?)');
    db.exec('BEGIN');
    try {
      for (const row of rows) stmt.bind([row.fileId, row.domain, row.relativePath, row.flags, mbFileBlob(row)]).stepReset();
      db.exec('COMMIT');
    } finally {
      stmt.finalize();
    }
  });
}

function numberField(value: PlistValue | undefined): number {
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : 0;
}

/** Reads a (decrypted) Manifest.db from the host; null if it is not a usable manifest. */
export async function readManifestDb(bytes: Uint8Array, inPlaceAbove = IN_PLACE_BYTES): Promise<Map<string, PreviousRow> | null> {
  if (bytes.byteLength > inPlaceAbove) return scanManifestDb(bytes);
  let db;
  try {
    db = await openDatabase(bytes);
  } catch {
    return null;
  }
  try {
    const rows = new Map<string, PreviousRow>();
    // Row by row: all rows at once (selectArrays) of a 1.3M-file manifest is a GB of arrays and blobs.
    const stmt = db.prepare('SELECT fileID, flags, file FROM Files');
    try {
      while (stmt.step()) {
        const fileId = stmt.get(0);
        const flags = stmt.get(1);
        const blob = stmt.get(2);
        if (typeof fileId !== 'string' || !(blob instanceof Uint8Array)) continue;
        const previous = previousRow(fileId, Number(flags), blob);
        if (previous) rows.set(fileId, previous);
      }
    } finally {
      stmt.finalize();
    }
    return rows;
  } catch {
    return null;
  } finally {
    db.close();
  }
}
