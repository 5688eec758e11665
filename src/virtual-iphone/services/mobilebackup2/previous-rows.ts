import { grown, type EntryList } from '../../dataset/file-table.ts';
import { MANIFEST_FLAGS } from './backup-files.ts';
import { manifestRow, rowFingerprint, type PreviousRow } from './manifest.ts';
import { EncryptionKeys } from './encryption-keys.ts';
import { hashOfKey, keyInto, readHex } from '../../../stores/hex-name-set.ts';

/**
 * The rows of the host's previous Manifest.db, as an incremental backup's plan asks for them: by the
 * row of the new listing they belong to (a number, so that 1.3M rows need no object each), whether
 * they still say the same, and which of them the device no longer has.
 */
export interface PreviousRows {
  /** Refs run from 0 to count - 1. */
  readonly count: number;
  /** For each row of `list`, the previous row with its fileID (a ref), or -1. */
  match(list: EntryList, fileId: (i: number) => string): Int32Array;
  fileId(ref: number): string;
  flags(ref: number): number;
  size(ref: number): number;
  lastModified(ref: number): number;
  encryptionKey(ref: number): Uint8Array | undefined;
  /** rowFingerprint of the previous row (manifest.ts). */
  fingerprint(ref: number): number;
  /** True when the previous row was written from the very entry row `i` of `list` is (so it says the same). */
  sameEntry(ref: number, list: EntryList, i: number): boolean;
  /** The refs `match` gave no row of the new listing: files and folders the device no longer has. */
  gone(): Generator<number>;
}

/**
 * Previous rows read back from the host's Manifest.db (readManifestDb), kept as columns: a fileID as
 * its 20 bytes, four numbers and a key per row, and a table from fileID to row. As an object per row in
 * a Map by fileID (and a second Map to match them), an encrypted 1.3M-file phone's incremental backup
 * held ≈300 MB more of its worker's heap than an unencrypted one, which keeps the rows it sent
 * (SentRows). A fileID that is not 40 lowercase hex digits (a host's database may hold anything) is
 * kept as a string beside the columns. A fileID read twice keeps the later row, as a Map would.
 */
export class ReadRows implements PreviousRows {
  private rowCount = 0;
  private ids = new Uint8Array(0);
  private readonly oddIds = new Map<number, string>();
  private readonly oddRefs = new Map<string, number>();
  private flagColumn = new Float64Array(0);
  private sizeColumn = new Float64Array(0);
  private modifiedColumn = new Float64Array(0);
  private fingerprintColumn = new Float64Array(0);
  private keyColumn = new EncryptionKeys(0);
  /** Open addressing over the hex fileIDs: ref + 1 per slot, 0 empty; at most half full. */
  private slots = new Int32Array(0);
  private matched = new Uint8Array(0);

  /**
   * Rows kept as columns elsewhere (a device's record of what it sent, backup-record.ts): the ids are
   * 20 bytes each. Null when a fileID comes twice (a record cannot hold two rows for one file).
   */
  static fromColumns(columns: {
    count: number;
    ids: Uint8Array<ArrayBuffer>;
    flags: Float64Array<ArrayBuffer>;
    sizes: Float64Array<ArrayBuffer>;
    lastModified: Float64Array<ArrayBuffer>;
    fingerprints: Float64Array<ArrayBuffer>;
    keys: EncryptionKeys | null;
  }): ReadRows | null {
    const rows = new ReadRows();
    const n = columns.count;
    rows.rowCount = n;
    rows.ids = columns.ids;
    rows.flagColumn = columns.flags;
    rows.sizeColumn = columns.sizes;
    rows.modifiedColumn = columns.lastModified;
    rows.fingerprintColumn = columns.fingerprints;
    if (columns.keys) rows.keyColumn = columns.keys;
    else rows.keyColumn.grow(n);
    let size = 1024;
    while (size < n * 2) size *= 2;
    rows.slots = new Int32Array(size);
    for (let ref = 0; ref < n; ref++) if (!rows.placeNew(ref)) return null;
    return rows;
  }

  /** The number of distinct fileIDs read. */
  get count(): number {
    return this.rowCount;
  }

  /** Adds the row read for `row.fileId`, or replaces the one read for it before. */
  add(row: PreviousRow): void {
    let ref = this.refOf(row.fileId);
    if (ref < 0) ref = this.append(row.fileId);
    this.flagColumn[ref] = row.flags;
    this.sizeColumn[ref] = row.size;
    this.modifiedColumn[ref] = row.lastModified;
    this.fingerprintColumn[ref] = row.fingerprint;
    this.keyColumn.set(ref, row.encryptionKey);
  }

  /** The ref of `fileId`, or -1. */
  refOf(fileId: string): number {
    if (!keyInto(fileId, PROBE)) return this.oddRefs.get(fileId) ?? -1;
    const slots = this.slots;
    if (slots.length === 0) return -1;
    const ids = this.ids;
    for (let slot = hashOfKey(PROBE, 0) & (slots.length - 1); ; slot = (slot + 1) & (slots.length - 1)) {
      const ref = slots[slot]! - 1;
      if (ref < 0) return -1;
      const at = ref * 20;
      let i = 0;
      while (i < 20 && ids[at + i] === PROBE[i]) i++;
      if (i === 20) return ref;
    }
  }

  // Map-like, for a test or a caller that has a fileID.

  has(fileId: string): boolean {
    return this.refOf(fileId) >= 0;
  }

  get(fileId: string): PreviousRow | undefined {
    const ref = this.refOf(fileId);
    return ref < 0 ? undefined : this.row(ref);
  }

  *keys(): Generator<string> {
    for (let ref = 0; ref < this.rowCount; ref++) yield this.fileId(ref);
  }

  *entries(): Generator<[string, PreviousRow]> {
    for (let ref = 0; ref < this.rowCount; ref++) yield [this.fileId(ref), this.row(ref)];
  }

  [Symbol.iterator](): Generator<[string, PreviousRow]> {
    return this.entries();
  }

  /** Row `ref` as an object (for a test, or the few rows a caller looks at). */
  row(ref: number): PreviousRow {
    const key = this.keyColumn.get(ref);
    return {
      fileId: this.fileId(ref),
      flags: this.flagColumn[ref]!,
      size: this.sizeColumn[ref]!,
      lastModified: this.modifiedColumn[ref]!,
      ...(key ? { encryptionKey: key.slice() } : {}),
      fingerprint: this.fingerprintColumn[ref]!,
    };
  }

  match(list: EntryList, fileId: (i: number) => string): Int32Array {
    this.matched = new Uint8Array(this.rowCount);
    const refs = new Int32Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const ref = this.refOf(fileId(i));
      refs[i] = ref;
      if (ref >= 0) this.matched[ref] = 1;
    }
    return refs;
  }

  fileId(ref: number): string {
    return this.oddIds.get(ref) ?? readHex(this.ids, ref * 20);
  }

  flags(ref: number): number {
    return this.flagColumn[ref]!;
  }

  size(ref: number): number {
    return this.sizeColumn[ref]!;
  }

  lastModified(ref: number): number {
    return this.modifiedColumn[ref]!;
  }

  encryptionKey(ref: number): Uint8Array | undefined {
    return this.keyColumn.get(ref);
  }

  fingerprint(ref: number): number {
    return this.fingerprintColumn[ref]!;
  }

  sameEntry(): boolean {
    return false;
  }

  *gone(): Generator<number> {
    for (let ref = 0; ref < this.rowCount; ref++) if (!this.matched[ref]) yield ref;
  }

  /** A new ref for `fileId` (not read before), with room made in every column. */
  private append(fileId: string): number {
    const ref = this.rowCount;
    if (ref === this.flagColumn.length) this.growColumns(Math.max(1024, ref * 2));
    this.rowCount++;
    if (keyInto(fileId, PROBE)) {
      this.ids.set(PROBE, ref * 20);
      if (this.rowCount * 2 > this.slots.length) this.rehash(this.rowCount * 2);
      else this.place(ref);
    } else {
      this.oddIds.set(ref, fileId);
      this.oddRefs.set(fileId, ref);
    }
    return ref;
  }

  private growColumns(capacity: number): void {
    this.ids = grown(this.ids, capacity * 20);
    this.flagColumn = grown(this.flagColumn, capacity);
    this.sizeColumn = grown(this.sizeColumn, capacity);
    this.modifiedColumn = grown(this.modifiedColumn, capacity);
    this.fingerprintColumn = grown(this.fingerprintColumn, capacity);
    this.keyColumn.grow(capacity);
  }

  /** A table of at least `needed` slots (a power of two) holding every hex fileID read so far. */
  private rehash(needed: number): void {
    let size = 1024;
    while (size < needed) size *= 2;
    this.slots = new Int32Array(size);
    for (let ref = 0; ref < this.rowCount; ref++) if (!this.oddIds.has(ref)) this.place(ref);
  }

  /** place, unless a row with the same fileID is in the table already (false then). */
  private placeNew(ref: number): boolean {
    const slots = this.slots;
    const ids = this.ids;
    const at = ref * 20;
    let slot = hashOfKey(ids, at) & (slots.length - 1);
    for (; slots[slot] !== 0; slot = (slot + 1) & (slots.length - 1)) {
      const other = (slots[slot]! - 1) * 20;
      let i = 0;
      while (i < 20 && ids[other + i] === ids[at + i]) i++;
      if (i === 20) return false;
    }
    slots[slot] = ref + 1;
    return true;
  }

  private place(ref: number): void {
    const slots = this.slots;
    let slot = hashOfKey(this.ids, ref * 20) & (slots.length - 1);
    while (slots[slot] !== 0) slot = (slot + 1) & (slots.length - 1);
    slots[slot] = ref + 1;
  }
}

/** Where refOf and append put a fileID as its 20 bytes. */
const PROBE = new Uint8Array(20);

/**
 * The rows this device itself sent last time (a backup whose Manifest.db came back unchanged): the listing it wrote them from, and the fingerprints worked out so far (NaN: not yet).
 * A row is matched by the table slot or folder it came from; only rows whose entry was replaced or
 * removed since are matched by fileID, so the 99% of a huge phone that did not change costs no lookup.
 */
export class SentRows implements PreviousRows {
  private matched = new Uint8Array(0);

  constructor(
    private readonly sent: EntryList,
    private readonly fingerprints: Float64Array,
    private readonly fileIdOf: (list: EntryList, i: number) => string,
    /** Each row's MBFile EncryptionKey, for an encrypted backup. */
    private readonly keys: EncryptionKeys | null = null,
  ) {}

  get count(): number {
    return this.sent.length;
  }

  match(list: EntryList, fileId: (i: number) => string): Int32Array {
    const sent = this.sent;
    const sameTable = list.table === sent.table;
    // Where each slot or folder of the sent listing stood in it (typed arrays: 1.36M entries).
    const bySlot = new Int32Array(sameTable ? sent.table.slotCount : 0).fill(-1);
    const byFolder = new Int32Array(sameTable ? sent.table.folderCount : 0).fill(-1);
    for (let ref = 0; sameTable && ref < sent.length; ref++) {
      const item = sent.item(ref);
      if (item >= 0) bySlot[item] = ref;
      else byFolder[~item] = ref;
    }
    const refs = new Int32Array(list.length).fill(-1);
    this.matched = new Uint8Array(sent.length);
    const unmatched: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = list.item(i);
      const ref = !sameTable ? -1 : item >= 0 ? (bySlot[item] ?? -1) : (byFolder[~item] ?? -1);
      if (ref < 0) {
        unmatched.push(i);
        continue;
      }
      refs[i] = ref;
      this.matched[ref] = 1;
    }
    if (unmatched.length > 0) {
      const byFileId = new Map<string, number>();
      for (let ref = 0; ref < sent.length; ref++) if (!this.matched[ref]) byFileId.set(this.fileId(ref), ref);
      for (const i of unmatched) {
        const ref = byFileId.get(fileId(i));
        if (ref === undefined) continue;
        refs[i] = ref;
        this.matched[ref] = 1;
      }
    }
    return refs;
  }

  fileId(ref: number): string {
    return this.fileIdOf(this.sent, ref);
  }

  flags(ref: number): number {
    return MANIFEST_FLAGS[this.sent.kind(ref)];
  }

  size(ref: number): number {
    return this.sent.size(ref);
  }

  lastModified(ref: number): number {
    return this.sent.mtime(ref);
  }

  encryptionKey(ref: number): Uint8Array | undefined {
    return this.keys?.get(ref);
  }

  fingerprint(ref: number): number {
    let fingerprint = this.fingerprints[ref]!;
    if (Number.isNaN(fingerprint)) {
      fingerprint = rowFingerprint(manifestRow(this.sent.at(ref), this.keys?.get(ref), this.fileId(ref)));
      this.fingerprints[ref] = fingerprint;
    }
    return fingerprint;
  }

  sameEntry(ref: number, list: EntryList, i: number): boolean {
    return list.table === this.sent.table && list.item(i) === this.sent.item(ref);
  }

  *gone(): Generator<number> {
    for (let ref = 0; ref < this.sent.length; ref++) if (!this.matched[ref]) yield ref;
  }
}
