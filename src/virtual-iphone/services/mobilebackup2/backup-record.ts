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
  save(key: string, record: Uint8Array): Promise<void>;
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
  const encoder = new RecordEncoder(rows, encrypted);
  if (!encoder.encode(0, rows.count)) return null;
  const hash = sha256();
  hash.update(encoder.body());
  return encoder.finish(hash.digest());
}

/**
 * encodeBackupRecord a slice at a time, with `pause()` between slices: on a 1.3M-file phone the whole
 * record took 1.2 s in one piece, which a host's requests at the end of its session (the sync lock,
 * the goodbyes) waited out on a phone in one thread.
 */
export async function encodeBackupRecordInSlices(
  rows: PreviousRows,
  encrypted: boolean,
  sha256: () => IncrementalHash,
  pause: () => Promise<void>,
  sliceRows = 65536,
  sliceBytes = 16 * 1024 * 1024,
): Promise<Uint8Array | null> {
  const encoder = new RecordEncoder(rows, encrypted);
  for (let from = 0; from < rows.count; from += sliceRows) {
    if (!encoder.encode(from, Math.min(rows.count, from + sliceRows))) return null;
    await pause();
  }
  const hash = sha256();
  await hashInSlices(hash, encoder.body(), sliceBytes, pause);
  return encoder.finish(hash.digest());
}

/** Feeds `bytes` to `hash` `sliceBytes` at a time, with `pause()` after each slice. */
export async function hashInSlices(hash: IncrementalHash, bytes: Uint8Array, sliceBytes: number, pause: () => Promise<void>): Promise<void> {
  for (let at = 0; at < bytes.byteLength; at += sliceBytes) {
    hash.update(bytes.subarray(at, Math.min(bytes.byteLength, at + sliceBytes)));
    await pause();
  }
}

/** Fills one record's columns, any range of rows at a time. */
class RecordEncoder {
  private readonly out: Uint8Array;
  private readonly numbers: Float64Array;
  private readonly ids: Uint8Array;
  private readonly present: Uint8Array;
  private readonly keys: Uint8Array;
  private readonly id = new Uint8Array(20);

  constructor(
    private readonly rows: PreviousRows,
    private readonly encrypted: boolean,
  ) {
    const n = rows.count;
    const keyBytes = encrypted ? n + n * KEY_BYTES : 0;
    this.out = new Uint8Array(HEADER_BYTES + n * 32 + n * 20 + keyBytes);
    for (let i = 0; i < MAGIC.length; i++) this.out[i] = MAGIC.charCodeAt(i);
    const view = new DataView(this.out.buffer);
    view.setUint32(8, n, true);
    view.setUint32(12, encrypted ? ENCRYPTED : 0, true);
    this.numbers = new Float64Array(this.out.buffer, HEADER_BYTES, n * 4);
    this.ids = this.out.subarray(HEADER_BYTES + n * 32, HEADER_BYTES + n * 52);
    this.present = this.out.subarray(HEADER_BYTES + n * 52, HEADER_BYTES + n * 53);
    this.keys = this.out.subarray(HEADER_BYTES + n * 53);
  }

  /** Rows [from, to); false when one cannot be kept in a record. */
  encode(from: number, to: number): boolean {
    const { rows, numbers, id } = this;
    const n = rows.count;
    for (let ref = from; ref < to; ref++) {
      if (!keyInto(rows.fileId(ref), id)) return false;
      this.ids.set(id, ref * 20);
      numbers[ref] = rows.flags(ref);
      numbers[n + ref] = rows.size(ref);
      numbers[2 * n + ref] = rows.lastModified(ref);
      numbers[3 * n + ref] = rows.fingerprint(ref);
      const key = rows.encryptionKey(ref);
      if (!key) continue;
      if (!this.encrypted || key.byteLength !== KEY_BYTES) return false;
      this.present[ref] = 1;
      this.keys.set(key, ref * KEY_BYTES);
    }
    return true;
  }

  /** Everything after the header: what the header's digest covers. */
  body(): Uint8Array {
    return this.out.subarray(HEADER_BYTES);
  }

  finish(digest: Uint8Array): Uint8Array {
    this.out.set(digest, 16);
    return this.out;
  }
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
