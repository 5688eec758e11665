import type { EntryList } from '../../dataset/file-table.ts';
import { bytesEqual } from '../../../core/bytes.ts';
import { fileIdFor } from './backup-files.ts';
import { manifestRow, rowFingerprint, type ManifestRow } from './manifest.ts';
import { SentRows, type PreviousRows } from './previous-rows.ts';
import { EncryptionKeys } from './encryption-keys.ts';

/**
 * The Manifest.db rows of one backup, kept as the listing they come from plus a few numbers per row
 * (the previous row each matches, its fingerprint once worked out, its key when encrypted): a row
 * object exists only while it is written or compared. A 1.3M-file phone kept 1.36M of them, with
 * their fileIDs, from one backup to the next.
 */
export class BackupRows {
  /** rowFingerprint of each row once worked out (NaN: not yet). */
  readonly fingerprints: Float64Array;
  /** MBFile EncryptionKey of each file row of an encrypted backup. */
  readonly keys: EncryptionKeys | null;
  /** The previous row of each row (a ref of `previous`), or -1; null without a previous manifest. */
  readonly refs: Int32Array | null;

  constructor(
    readonly list: EntryList,
    readonly previous: PreviousRows | null,
    encrypted: boolean,
  ) {
    this.fingerprints = new Float64Array(list.length).fill(Number.NaN);
    this.keys = encrypted ? new EncryptionKeys(list.length) : null;
    this.refs = previous ? previous.match(list, (i) => this.fileId(i)) : null;
  }

  get length(): number {
    return this.list.length;
  }

  fileId(i: number): string {
    return this.list.fileId(i, fileIdFor);
  }

  row(i: number): ManifestRow {
    return manifestRow(this.list.at(i), this.keys?.get(i), this.fileId(i));
  }

  *rows(): Generator<ManifestRow> {
    for (let i = 0; i < this.list.length; i++) yield this.row(i);
  }

  fingerprint(i: number): number {
    let fingerprint = this.fingerprints[i]!;
    if (Number.isNaN(fingerprint)) {
      fingerprint = rowFingerprint(this.row(i));
      this.fingerprints[i] = fingerprint;
    }
    return fingerprint;
  }

  /** The rows that differ from the previous ones (all of them without a previous manifest). */
  changedRows(): ManifestRow[] {
    const { previous, refs } = this;
    const changed: ManifestRow[] = [];
    for (let i = 0; i < this.list.length; i++) {
      const ref = refs ? refs[i]! : -1;
      // From the same entry, with the same key or none: the row the host has. Not hashed (1.3M rows).
      if (previous && ref >= 0 && previous.sameEntry(ref, this.list, i) && sameKey(previous.encryptionKey(ref), this.keys?.get(i))) continue;
      if (!previous || ref < 0 || previous.fingerprint(ref) !== this.fingerprint(i)) changed.push(this.row(i));
    }
    return changed;
  }

  /** The fileIDs of the previous rows no row of this backup has. */
  deletedFileIds(): string[] {
    const previous = this.previous;
    const deleted: string[] = [];
    if (previous) for (const ref of previous.gone()) deleted.push(previous.fileId(ref));
    return deleted;
  }

  /** These rows as the previous ones of the device's next backup, if the host keeps them as sent. */
  asSent(): SentRows {
    return new SentRows(this.list, this.fingerprints, (list, i) => list.fileId(i, fileIdFor), this.keys);
  }
}

/** Both keys absent, or the same bytes. */
function sameKey(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : bytesEqual(a, b);
}
