import { archive, decodePlist, encodeBinaryPlist, isPlistDict, unarchive, type PlistDict, type PlistValue } from '../../../plist/index.ts';
import type { DatasetEntry } from '../../dataset/dataset.ts';
import { buildDatabase, openDatabase, patchDatabase, type SqliteDatabase } from '../../dataset/sqlite.ts';
import { fileIdFor, MANIFEST_FLAGS } from './backup-files.ts';
import { readMbFile } from './mbfile-reader.ts';
import { manifestRowFromValues, scanManifestRowBatches, type ManifestRow as ScannedRow } from '../../../library/manifest-scan.ts';
import type { SqlValue as ScannedValue } from '../../../library/sqlite-scan/record.ts';
import { concatBytes } from '../../../core/bytes.ts';
import { readParts } from '../../../core/chunked-bytes.ts';
import { ReadRows } from './previous-rows.ts';

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
  /** The whole row, columns and MBFile, reduced to a number (rowFingerprint): equal when a new row would say the same. */
  fingerprint: number;
}

const MOBILE_UID = 501;

/**
 * A previous Manifest.db bigger than this is read with the host's in-place scanner instead of being
 * copied into SQLite WASM, whose whole heap is 2 GB: a 1.3M-file backup's is 1.19 GB, and copying it
 * in beside SQLite's own pages risks that limit (not tried: the scanner needs no copy at all).
 * Smaller ones keep SQLite as the independent reader.
 */
const IN_PLACE_BYTES = 512 * 1024 * 1024;

function previousRow(fileId: string, domain: string, relativePath: string, flags: number, blob: Uint8Array): PreviousRow | undefined {
  const file = readMbFile(blob) ?? unarchive(decodePlist(blob));
  if (!isPlistDict(file)) return undefined;
  const key = (file as PlistDict)['EncryptionKey'];
  return {
    fileId,
    flags,
    size: numberField(file['Size']),
    lastModified: numberField(file['LastModified']),
    ...(key instanceof Uint8Array ? { encryptionKey: key } : {}),
    fingerprint: fingerprintOf(domain, relativePath, flags, file),
  };
}

/** A row either reader gave, kept if it has a fileID and an MBFile the device can read. */
function addPreviousRow(rows: ReadRows, row: ScannedRow): void {
  if (!row.blob || row.fileID === '') return;
  const previous = previousRow(row.fileID, row.domain, row.relativePath, row.flags, row.blob);
  if (previous) rows.add(previous);
}

async function scanManifestDb(parts: readonly Uint8Array[], size: number): Promise<ReadRows | null> {
  const rows = new ReadRows();
  try {
    const reader = { size, read: async (start: number, end: number) => readParts(parts, start, Math.min(end, size)) };
    // Blobs as views of the received chunks: each is read here and only its fields are kept.
    for await (const batch of scanManifestRowBatches(reader, true)) {
      for (const row of batch) addPreviousRow(rows, row);
    }
    return rows;
  } catch {
    return null;
  }
}

/** The NSKeyedArchiver MBFile blob for one entry. */
export function mbFileBlob(row: ManifestRow): Uint8Array {
  return encodeBinaryPlist(archive(mbFileObject(row)));
}

/** The MBFile object mbFileBlob archives. */
function mbFileObject(row: ManifestRow): PlistDict {
  const e = row.entry;
  const file: PlistDict = {
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
  };
  if (e.target !== undefined) file['Target'] = e.target;
  if (row.encryptionKey) file['EncryptionKey'] = row.encryptionKey;
  return file;
}

/** Every key mbFileObject writes, in a fixed order for the fingerprint. */
const MBFILE_KEYS = ['$class', 'LastModified', 'Flags', 'GroupID', 'LastStatusChange', 'Birth', 'Size', 'InodeNumber', 'Mode', 'UserID', 'ProtectionClass', 'RelativePath', 'Target', 'EncryptionKey'] as const;

/**
 * A Manifest.db row reduced to 53 bits of two 32-bit hashes over its domain, relativePath and flags
 * columns and every MBFile field mbFileObject writes (with each value's type and the key count). Equal
 * fingerprints mean the row can stay as the host has it; a value of a type mbFileObject never writes
 * gives NaN, which equals nothing. A false match needs two different rows to agree in 53 bits: about
 * 1 in 10^12 for the 13,000 changed rows of a huge incremental.
 */
function fingerprintOf(domain: string, relativePath: string, flags: number, file: PlistDict): number {
  const hash = new FieldHash();
  hash.text(domain);
  hash.text(relativePath);
  hash.word(flags);
  let known = 0;
  for (let k = 0; k < MBFILE_KEYS.length; k++) {
    const value = file[MBFILE_KEYS[k]!];
    if (value === undefined) {
      hashAbsent(hash, k);
      continue;
    }
    known++;
    if (typeof value === 'number' || typeof value === 'bigint') {
      // An integer the decoder gave as a bigint hashes as the same number.
      const n = Number(value);
      if (!Number.isSafeInteger(n) || (typeof value === 'bigint' && BigInt(n) !== value)) return Number.NaN;
      hashInteger(hash, k, n);
    } else if (typeof value === 'string') {
      hashText(hash, k, value, relativePath);
    } else if (value instanceof Uint8Array) {
      hashBytes(hash, k, value);
    } else {
      return Number.NaN;
    }
  }
  hash.word(Object.keys(file).length - known);
  return hash.value();
}

/** Two independent 32-bit multiply-xor hashes fed word by word. */
class FieldHash {
  private a = 0x811c9dc5;
  private b = 0x2545f491;

  word(x: number): void {
    this.a = Math.imul(this.a ^ (x | 0), 0x01000193);
    this.b = Math.imul(this.b ^ (x | 0), 0x5bd1e995);
    this.b ^= this.b >>> 15;
  }

  text(s: string): void {
    this.word(s.length);
    for (let i = 0; i < s.length; i++) this.word(s.charCodeAt(i));
  }

  value(): number {
    return (this.a >>> 0) * 0x20_0000 + ((this.b >>> 0) >>> 11);
  }
}

/**
 * The fingerprint a row would have in Manifest.db as mbFileBlob writes it: fingerprintOf over
 * mbFileObject(row), hashed straight from the row (tested equal). An incremental of a 1.3M-file phone
 * takes it of every row twice, and building each MBFile dictionary first was most of that.
 */
export function rowFingerprint(row: ManifestRow): number {
  const e = row.entry;
  const path = row.relativePath;
  const hash = new FieldHash();
  hash.text(row.domain);
  hash.text(path);
  hash.word(row.flags);
  // Key by key in MBFILE_KEYS order, as mbFileObject fills them.
  hashText(hash, 0, 'MBFile', path);
  const size = e.kind === 'file' ? e.size : 0;
  const safe =
    hashInteger(hash, 1, e.mtime) && hashInteger(hash, 2, 0) && hashInteger(hash, 3, MOBILE_UID) && hashInteger(hash, 4, e.mtime) &&
    hashInteger(hash, 5, e.mtime) && hashInteger(hash, 6, size) && hashInteger(hash, 7, e.inode) && hashInteger(hash, 8, e.mode) &&
    hashInteger(hash, 9, MOBILE_UID) && hashInteger(hash, 10, e.protectionClass);
  if (!safe) return Number.NaN;
  hashText(hash, 11, path, path);
  if (e.target !== undefined) hashText(hash, 12, e.target, path);
  else hashAbsent(hash, 12);
  if (row.encryptionKey) hashBytes(hash, 13, row.encryptionKey);
  else hashAbsent(hash, 13);
  hash.word(0); // no keys beyond MBFILE_KEYS
  return hash.value();
}

/*
 * The words of one MBFile key (its number `k` in MBFILE_KEYS, then its value's type and value), shared
 * by fingerprintOf (a decoded blob) and rowFingerprint (a row about to be written).
 */

/** A string; MBFile's RelativePath is the column's, so it is said once, not hashed twice. */
function hashText(hash: FieldHash, k: number, value: string, relativePath: string): void {
  hash.word(k);
  if (value === relativePath) {
    hash.word(4);
  } else {
    hash.word(2);
    hash.text(value);
  }
}

/** An integer; false (the fingerprint is NaN) past 2^53. */
function hashInteger(hash: FieldHash, k: number, n: number): boolean {
  hash.word(k);
  if (!Number.isSafeInteger(n)) return false;
  hash.word(1);
  hash.word(n % 0x1_0000_0000);
  hash.word(Math.floor(n / 0x1_0000_0000));
  return true;
}

function hashBytes(hash: FieldHash, k: number, value: Uint8Array): void {
  hash.word(k);
  hash.word(3);
  hash.word(value.byteLength);
  for (let i = 0; i < value.byteLength; i++) hash.word(value[i]!);
}

/** A key the MBFile does not have. */
function hashAbsent(hash: FieldHash, k: number): void {
  hash.word(k);
  hash.word(0);
}

/** The row for `entry`; `fileId` when the caller has it (a listing keeps them), else worked out. */
export function manifestRow(entry: DatasetEntry, encryptionKey?: Uint8Array, fileId = fileIdFor(entry.domain, entry.relativePath)): ManifestRow {
  return {
    fileId,
    domain: entry.domain,
    relativePath: entry.relativePath,
    flags: MANIFEST_FLAGS[entry.kind],
    entry,
    ...(encryptionKey ? { encryptionKey } : {}),
  };
}

/** Manifest.db's schema and indexes as real backups have them, one statement each (as sqlite_master keeps them). */
const MANIFEST_SCHEMA = [
  'CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB)',
  'CREATE INDEX FilesDomainIdx ON Files(domain)',
  'CREATE INDEX FilesRelativePathIdx ON Files(relativePath)',
  'CREATE INDEX FilesFlagsIdx ON Files(flags)',
  'CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB)',
];

/** Manifest.db bytes (plaintext SQLite) with the schema and indexes real backups have. */
export function buildManifestDb(rows: Iterable<ManifestRow>): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(MANIFEST_SCHEMA.join(';\n'));
    writeRows(db, rows, []);
  });
}

function writeRows(db: SqliteDatabase, rows: Iterable<ManifestRow>, deleted: readonly string[]): void {
  const insert = db.prepare('INSERT OR REPLACE INTO Files VALUES (?, ?, ?, ?, ?)');
  const remove = db.prepare('DELETE FROM Files WHERE fileID = ?');
  db.exec('BEGIN');
  try {
    for (const fileId of deleted) remove.bind([fileId]).stepReset();
    for (const row of rows) insert.bind([row.fileId, row.domain, row.relativePath, row.flags, mbFileBlob(row)]).stepReset();
    db.exec('COMMIT');
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite rolled back already (it does on SQLITE_FULL).
    }
    throw error;
  } finally {
    insert.finalize();
    remove.finalize();
  }
}

/** Why a previous Manifest.db could not be brought up to date in place (the caller builds a new one). */
export class ManifestPatchError extends Error {}

/**
 * The host's previous Manifest.db brought up to date: `changed` rows written, `deleted` ones gone, the
 * rest left as they are, and `expectedRows` rows in all. An incremental backup of a 1.3M-file phone changes about 1% of its rows, and
 * encoding all the others again was most of the device's time. The result is written over `previous`
 * (patchDatabase), in pieces. Throws ManifestPatchError, leaving `previous` as it was, if the previous
 * database does not have the schema buildManifestDb writes, or the edit does not fit.
 */
export async function patchManifestDb(previous: Uint8Array | readonly Uint8Array[], changed: readonly ManifestRow[], deleted: readonly string[], expectedRows: number): Promise<Uint8Array[]> {
  // Room for the new rows: a blob of about 530 bytes, its key in four b-trees, and page slack.
  const room = 1024 * 1024 + (changed.length + deleted.length) * 4096;
  try {
    return await patchDatabase(previous, room, (db) => {
      const schema = db.selectValues("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").map(String);
      if (schema.length !== MANIFEST_SCHEMA.length || !MANIFEST_SCHEMA.every((sql) => schema.includes(sql))) {
        throw new ManifestPatchError('the previous Manifest.db has another schema');
      }
      writeRows(db, changed, deleted);
      // Rows the device could not read back stay behind; then this is not the manifest a build would give.
      const count = Number(db.selectValue('SELECT count(*) FROM Files'));
      if (count !== expectedRows) throw new ManifestPatchError(`the updated Manifest.db has ${count} rows, not ${expectedRows}`);
    });
  } catch (error) {
    if (error instanceof ManifestPatchError) throw error;
    throw new ManifestPatchError(`the previous Manifest.db could not be updated: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function numberField(value: PlistValue | undefined): number {
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : 0;
}

/** Reads a (decrypted) Manifest.db from the host, whole or in chunks; null if it is not a usable manifest. */
export async function readManifestDb(file: Uint8Array | readonly Uint8Array[], inPlaceAbove = IN_PLACE_BYTES): Promise<ReadRows | null> {
  const parts = file instanceof Uint8Array ? [file] : file;
  const size = parts.reduce((n, part) => n + part.byteLength, 0);
  if (size > inPlaceAbove) return scanManifestDb(parts, size);
  let db;
  try {
    db = await openDatabase(parts.length === 1 ? parts[0]! : concatBytes(parts));
  } catch {
    return null;
  }
  try {
    const rows = new ReadRows();
    // Row by row: all rows at once (selectArrays) of a 1.3M-file manifest is a GB of arrays and blobs.
    const stmt = db.prepare('SELECT fileID, domain, relativePath, flags, file FROM Files');
    // SQLite WASM gives a blob as a Uint8Array; its typings also allow other buffers, which it does not give.
    const at = (column: number): ScannedValue | undefined => {
      const value = stmt.get(column);
      return value instanceof Uint8Array || value === null || typeof value !== 'object' ? value : undefined;
    };
    try {
      // Columns taken as the in-place scanner takes them (a blob where text belongs is read as text), so both readers agree.
      while (stmt.step()) addPreviousRow(rows, manifestRowFromValues(at(0), at(1), at(2), at(3), at(4)));
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
