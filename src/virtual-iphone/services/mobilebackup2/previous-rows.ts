import type { EntryList } from '../../dataset/file-table.ts';
import { MANIFEST_FLAGS } from './backup-files.ts';
import { manifestRow, rowFingerprint, type PreviousRow } from './manifest.ts';

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

/** Previous rows read back from the host's Manifest.db (readManifestDb), by fileID. */
export class ReadRows implements PreviousRows {
  private readonly rows: PreviousRow[];
  private matched: Uint8Array;

  constructor(byFileId: ReadonlyMap<string, PreviousRow>) {
    this.rows = [...byFileId.values()];
    this.matched = new Uint8Array(this.rows.length);
  }

  get count(): number {
    return this.rows.length;
  }

  match(list: EntryList, fileId: (i: number) => string): Int32Array {
    const index = new Map<string, number>();
    this.rows.forEach((row, ref) => index.set(row.fileId, ref));
    this.matched = new Uint8Array(this.rows.length);
    const refs = new Int32Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const ref = index.get(fileId(i)) ?? -1;
      refs[i] = ref;
      if (ref >= 0) this.matched[ref] = 1;
    }
    return refs;
  }

  fileId(ref: number): string {
    return this.rows[ref]!.fileId;
  }

  flags(ref: number): number {
    return this.rows[ref]!.flags;
  }

  size(ref: number): number {
    return this.rows[ref]!.size;
  }

  lastModified(ref: number): number {
    return this.rows[ref]!.lastModified;
  }

  encryptionKey(ref: number): Uint8Array | undefined {
    return this.rows[ref]!.encryptionKey;
  }

  fingerprint(ref: number): number {
    return this.rows[ref]!.fingerprint;
  }

  sameEntry(): boolean {
    return false;
  }

  *gone(): Generator<number> {
    for (let ref = 0; ref < this.rows.length; ref++) if (!this.matched[ref]) yield ref;
  }
}

/**
 * The rows this device itself sent last time (an unencrypted backup whose Manifest.db came back
 * unchanged): the listing it wrote them from, and the fingerprints worked out so far (NaN: not yet).
 * A row is matched by the table slot or folder it came from; only rows whose entry was replaced or
 * removed since are matched by fileID, so the 99% of a huge phone that did not change costs no lookup.
 */
export class SentRows implements PreviousRows {
  private matched = new Uint8Array(0);

  constructor(
    private readonly sent: EntryList,
    private readonly fingerprints: Float64Array,
    private readonly fileIdOf: (list: EntryList, i: number) => string,
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

  encryptionKey(): undefined {
    return undefined;
  }

  fingerprint(ref: number): number {
    let fingerprint = this.fingerprints[ref]!;
    if (Number.isNaN(fingerprint)) {
      fingerprint = rowFingerprint(manifestRow(this.sent.at(ref), undefined, this.fileId(ref)));
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
