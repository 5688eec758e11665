import { keyInto } from '../../../stores/hex-name-set.ts';
import { EncryptionKeys, KEY_BYTES } from './encryption-keys.ts';
import { ReadRows, type PreviousRows } from './previous-rows.ts';

/**
 * Where a virtual iPhone keeps, across restarts, the rows of the Manifest.db files it sent (a real
 * phone is the same device from one backup to the next; a restarted simulator process is not). Each
 * record is filed under the SHA-256 of the file as the host holds it, so a host's copy that differs in
 * any byte finds no record and is read as before. The Node phone keeps them beside its --state; the
 * phone in a browser worker lives for the whole session and keeps its last one in memory only.
 */
export interface BackupRecordStore {
  /** The record filed under `key` (a SHA-256 in hex), or null. */
  load(key: string): Uint8Array | null;
  /** Files `record` under `key`; the oldest records beyond the last few are dropped. */
  save(key: string, record: Uint8Array): void;
  /** A SHA-256 fed piece by piece: the host's 1.19 GB Manifest.db is hashed as it arrives. */
  sha256(): IncrementalHash;
  /** Holds a record still being made, so that a phone asked to stop waits for it (settled() in Node). */
  hold(work: Promise<void>): void;
}

export interface IncrementalHash {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

/** The rows a record holds, and whether they are an encrypted backup's. */
export interface BackupRecord {
  encrypted: boolean;
  rows: ReadRows;
}

const MAGIC = 'LBBKREC1';
/** Magic, row count, flags, then the SHA-256 of everything after the header (a record read wrong would plan a backup wrong). */
const HEADER_BYTES = 48;
const ENCRYPTED = 1;

/**
 * `rows` (the rows of a Manifest.db this device sent) as a record: four number columns, the fileIDs
 * as 20 bytes each and, for an encrypted backup, each row's key. Null when a row cannot be kept that
 * way (a fileID that is not 40 hex digits, a key of another length): then there is no record, and the
 * next restart reads the host's copy as before.
 */
export function encodeBackupRecord(rows: PreviousRows, encrypted: boolean, sha256: () => IncrementalHash): Uint8Array | null {
  const n = rows.count;
  const keyBytes = encrypted ? n + n * KEY_BYTES : 0;
  const out = new Uint8Array(HEADER_BYTES + n * 32 + n * 20 + keyBytes);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  const view = new DataView(out.buffer);
  view.setUint32(8, n, true);
  view.setUint32(12, encrypted ? ENCRYPTED : 0, true);
  const numbers = new Float64Array(out.buffer, HEADER_BYTES, n * 4);
  const ids = out.subarray(HEADER_BYTES + n * 32, HEADER_BYTES + n * 52);
  const present = out.subarray(HEADER_BYTES + n * 52, HEADER_BYTES + n * 53);
  const keys = out.subarray(HEADER_BYTES + n * 53);
  const id = new Uint8Array(20);
  for (let ref = 0; ref < n; ref++) {
    if (!keyInto(rows.fileId(ref), id)) return null;
    ids.set(id, ref * 20);
    numbers[ref] = rows.flags(ref);
    numbers[n + ref] = rows.size(ref);
    numbers[2 * n + ref] = rows.lastModified(ref);
    numbers[3 * n + ref] = rows.fingerprint(ref);
    const key = rows.encryptionKey(ref);
    if (!key) continue;
    if (!encrypted || key.byteLength !== KEY_BYTES) return null;
    present[ref] = 1;
    keys.set(key, ref * KEY_BYTES);
  }
  const hash = sha256();
  hash.update(out.subarray(HEADER_BYTES));
  out.set(hash.digest(), 16);
  return out;
}

/** The rows of a record encodeBackupRecord wrote; null for anything else (cut short, changed, another format, a fileID twice). */
export function decodeBackupRecord(record: Uint8Array, sha256: () => IncrementalHash): BackupRecord | null {
  if (record.byteLength < HEADER_BYTES) return null;
  for (let i = 0; i < MAGIC.length; i++) if (record[i] !== MAGIC.charCodeAt(i)) return null;
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const n = view.getUint32(8, true);
  const flags = view.getUint32(12, true);
  if ((flags & ~ENCRYPTED) !== 0) return null;
  const encrypted = flags === ENCRYPTED;
  if (record.byteLength !== HEADER_BYTES + n * 52 + (encrypted ? n + n * KEY_BYTES : 0)) return null;
  const hash = sha256();
  hash.update(record.subarray(HEADER_BYTES));
  const digest = hash.digest();
  for (let i = 0; i < 32; i++) if (digest[i] !== record[16 + i]) return null;
  // Copied out: a Float64Array needs an aligned offset, and the caller's buffer is not kept. (Not
  // slice(): on a Node Buffer that is a view of the whole file.)
  const copy = (start: number, end: number): Uint8Array<ArrayBuffer> => new Uint8Array(record.subarray(start, end));
  const numbers = new Float64Array(copy(HEADER_BYTES, HEADER_BYTES + n * 32).buffer);
  const ids = copy(HEADER_BYTES + n * 32, HEADER_BYTES + n * 52);
  let keys: EncryptionKeys | null = null;
  if (encrypted) {
    const present = copy(HEADER_BYTES + n * 52, HEADER_BYTES + n * 53);
    if (present.some((p) => p > 1)) return null;
    keys = EncryptionKeys.of(copy(HEADER_BYTES + n * 53, record.byteLength), present);
  }
  const rows = ReadRows.fromColumns({
    count: n,
    ids,
    flags: numbers.subarray(0, n),
    sizes: numbers.subarray(n, 2 * n),
    lastModified: numbers.subarray(2 * n, 3 * n),
    fingerprints: numbers.subarray(3 * n, 4 * n),
    keys,
  });
  return rows ? { encrypted, rows } : null;
}
