import { decodePlist, encodeBinaryPlist, isPlistDict, type PlistDict, type PlistValue } from '../../../plist/index.ts';
import { bytesEqual, concatBytes } from '../../../core/bytes.ts';
import { ChunkedBytes, ExpectedBytes, readParts } from '../../../core/chunked-bytes.ts';
import { StaticContent, type FileContent } from '../../dataset/content.ts';
import type { Dataset } from '../../dataset/dataset.ts';
import { BackupEncryption } from '../../encryption/backup-encryption.ts';
import { aesCbcDecrypt, encryptedSize, randomBytes, sha256 } from '../../encryption/crypto.ts';
import { encodeTlv } from '../../encryption/keybag.ts';
import { payloadPath, fileIdFor } from './backup-files.ts';
import type { BackupDeviceState } from './backup-state.ts';
import { BackupFailure, DL_CODE, MAX_DOWNLOAD_BYTES, progressReal, type DeviceLinkEndpoint } from './device-link.ts';
import { ProtocolError } from '../../../core/errors.ts';
import { buildManifestDb, ManifestPatchError, patchManifestDb, readManifestDb } from './manifest.ts';
import { BackupRows } from './backup-rows.ts';
import type { PreviousRows, SentRows } from './previous-rows.ts';
import { hexOf } from '../../../core/hex.ts';
import { nextTask } from '../../../core/next-task.ts';
import { decodeBackupRecord, encodeBackupRecordInSlices, hashInSlices } from './backup-record.ts';

/** The device refuses to start unless the host reports this much more than the upload. */
const FREE_SPACE_MARGIN = 128 * 1024 * 1024;

export { BackupFailure };

interface UploadItem {
  /** Device-side name (informational). */
  deviceName: string;
  destination: string;
  /** Plain bytes to send (encrypted on the fly if `key`). */
  content: Pick<FileContent, 'readInto' | 'view'>;
  size: number;
  key?: Uint8Array;
}

/** Whole-buffer content (Status.plist, Manifest.db, Manifest.plist). */
function bytesContent(bytes: Uint8Array): Pick<FileContent, 'readInto' | 'view'> {
  return new StaticContent(bytes);
}

/**
 * Content held in pieces laid back to back (an updated Manifest.db). A range inside one piece goes
 * out as a view of it: copying each block into fresh memory was 1.19 GB of new buffers per incremental
 * of a huge phone, which in a browser worker means page faults and collections of its large heap.
 */
function partsContent(parts: readonly Uint8Array[]): Pick<FileContent, 'readInto' | 'view'> {
  const starts: number[] = [];
  let size = 0;
  for (const part of parts) {
    starts.push(size);
    size += part.byteLength;
  }
  let at = 0; // the piece the last view came from: reads go front to back
  return {
    readInto: (offset, target) => {
      const bytes = readParts(parts, offset, Math.min(size, offset + target.byteLength));
      target.set(bytes);
      return bytes.byteLength;
    },
    view: (offset, length) => {
      if (at >= parts.length || offset < starts[at]!) at = 0;
      while (at < parts.length && offset >= starts[at]! + parts[at]!.byteLength) at++;
      const part = parts[at];
      if (!part) return null;
      const from = offset - starts[at]!;
      return from + length <= part.byteLength ? part.subarray(from, from + length) : null;
    },
  };
}

/**
 * An unencrypted backup's Manifest.db depends only on the dataset's state (no per-backup keys), so
 * it is built once per dataset generation: building it (an NSKeyedArchiver blob and a SQLite insert
 * per file) was a large share of a simulated backup, which a real device pays on its own CPU.
 */
const plainManifestCache = new WeakMap<Dataset, { generation: number; bytes: readonly Uint8Array[] }>();

async function plainManifestDb(dataset: Dataset, build: () => Promise<readonly Uint8Array[]>): Promise<readonly Uint8Array[]> {
  const cached = plainManifestCache.get(dataset);
  if (cached && cached.generation === dataset.generation) return cached.bytes;
  const generation = dataset.generation;
  const bytes = await build();
  plainManifestCache.set(dataset, { generation, bytes });
  return bytes;
}

/**
 * The plaintext Manifest.db this device last sent for a dataset, and the rows it holds. An incremental
 * backup first reads the host's copy back, compared with this one as it arrives; when it is byte for
 * byte what was sent, its rows are these (readManifestDb would find the same: tested), and reading 1.3M
 * blobs again — most of a huge phone's time before its first file, spent on what a real phone does on
 * its own CPU — is skipped, as is keeping a second 1.19 GB. A copy that differs in any byte is kept and
 * read as before. Taken out once read back: the update of the database writes over these very parts.
 * Unencrypted backups only.
 */
const lastSentManifest = new WeakMap<Dataset, { db: readonly Uint8Array[]; rows: SentRows }>();

/**
 * The same for an encrypted backup, whose Manifest.db goes up encrypted with a key of its own: its
 * plaintext is not kept (1.19 GB on a huge phone), only the SHA-256 of the encrypted file and the rows.
 * A copy read back with that digest is the file sent, so its rows are these, keys included, and the
 * 1.3M MBFile blobs need not be read again (most of an encrypted incremental's time on the device).
 */
const lastSentEncryptedManifest = new WeakMap<Dataset, SentEncryptedManifest>();

interface SentEncryptedManifest {
  size: number;
  sha256: Uint8Array;
  rows: SentRows;
}

/** The host's previous manifest as the device read it back: its rows, and the (decrypted) database. */
interface PreviousManifest {
  rows: PreviousRows;
  /** The database file in the chunks it arrived in (a 1.19 GB one is not copied whole once more). */
  db: readonly Uint8Array[];
}

/**
 * The new Manifest.db: the host's previous one brought up to date when there is one (only the rows
 * that differ are written), else built whole. A previous one that cannot be updated (another schema,
 * rows the device could not read) is replaced by a whole new one, as a full backup would write.
 */
async function newManifestDb(rows: BackupRows, previousDb: readonly Uint8Array[] | null): Promise<readonly Uint8Array[]> {
  if (previousDb && rows.previous) {
    try {
      return await patchManifestDb(previousDb, rows.changedRows(), rows.deletedFileIds(), rows.length);
    } catch (error) {
      if (!(error instanceof ManifestPatchError)) throw error;
    }
  }
  return [await buildManifestDb(rows.rows())];
}

/** remember() lets the device's other work run after this many fingerprints, or this many bytes hashed. */
const REMEMBER_SLICE_ROWS = 65536;
const REMEMBER_SLICE_BYTES = 16 * 1024 * 1024;

/** Pending small writes are sent once they add up to this much. */
const COALESCE_BYTES = 256 * 1024;
/** Pieces at least this big are sent as they are: copying them into a joined buffer costs more than a write. */
const DIRECT_WRITE_BYTES = 16 * 1024;
/** Size of the buffers the CoalescingWriter carves its writes from. */
const BUFFER_BYTES = 1024 * 1024;

function uuid(): string {
  const b = randomBytes(16);
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** True when dotted `version` is `from` or later ("15.7.1" ≥ "15.7"). */
export function versionAtLeast(version: string, from: string): boolean {
  const a = version.split('.').map(Number);
  const b = from.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** An unencrypted backup still carries a keybag (device-wrapped class keys, no password KDF). */
function deviceOnlyKeybag(): Uint8Array {
  const u32 = (n: number): Uint8Array => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const items = [
    { tag: 'VERS', value: u32(5) },
    { tag: 'TYPE', value: u32(1) },
    { tag: 'UUID', value: randomBytes(16) },
    { tag: 'HMCK', value: randomBytes(40) },
    { tag: 'WRAP', value: u32(1) },
    { tag: 'SALT', value: randomBytes(20) },
    { tag: 'ITER', value: u32(10000) },
  ];
  for (let clas = 1; clas <= 11; clas++) {
    items.push({ tag: 'UUID', value: randomBytes(16) }, { tag: 'CLAS', value: u32(clas) }, { tag: 'WRAP', value: u32(1) }, { tag: 'KTYP', value: u32(0) }, { tag: 'WPKY', value: randomBytes(40) });
  }
  return encodeTlv(items);
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && bytesEqual(a, b);
}

/**
 * One Backup request, driven the way BackupAgent2 drives it: read the host's Status.plist (and
 * manifest for an incremental), check free space, upload changed files into Snapshot/, move them
 * into place, remove deleted ones and the Snapshot folder, and mark Status.plist finished.
 */
export class BackupRun {
  private progress = 0;
  private readonly udid: string;
  /** The host's previous Manifest.plist, when this device keeps a copy of it (CopyItem). */
  private previousPlist: Uint8Array | undefined;
  /** What remember() files once the host has its answer: the rows sent, and the file's SHA-256 or its parts. */
  private sent: { rows: PreviousRows; encrypted: boolean; sha256?: Uint8Array; parts?: readonly Uint8Array[] } | undefined;

  constructor(
    private readonly link: DeviceLinkEndpoint,
    private readonly state: BackupDeviceState,
    private readonly request: PlistDict,
  ) {
    this.udid = state.udid;
  }

  async run(): Promise<void> {
    const options = isPlistDict(this.request['Options']) ? this.request['Options'] : {};
    const target = this.request['TargetIdentifier'];
    if (typeof target === 'string' && target.toUpperCase() !== this.udid.toUpperCase()) {
      throw new BackupFailure(1, `TargetIdentifier ${target} is not this device`);
    }
    const faults = this.state.faults;
    const behaviour = this.state.behaviour;
    const promptFrom = behaviour.passcodePromptFrom ?? '16.1';
    if (this.state.passcode && promptFrom !== 'never' && versionAtLeast(this.state.productVersion(), promptFrom)) {
      if (!(await this.state.passcode.prompt())) throw new BackupFailure(208, 'Device locked (passcode not entered)');
    }
    // A big device scans for minutes before its first message; the host hears nothing meanwhile.
    if (behaviour.prepareMs) await new Promise((resolve) => setTimeout(resolve, behaviour.prepareMs));
    if (faults.stallMs) await new Promise((resolve) => setTimeout(resolve, faults.stallMs));
    if (faults.errorCode === 208) throw new BackupFailure(208, 'Device locked (passcode not entered)');
    if (faults.errorCode !== undefined && faults.errorCode !== 105) throw new BackupFailure(faults.errorCode, `Injected failure ${faults.errorCode}`);

    const dataset = await this.state.dataset();
    const encryption = this.state.encryption;
    const encrypted = encryption !== null;
    const base = `${this.udid}`;

    // 1. What does the host already have?
    const statusFiles = await this.link.downloadFiles([`${base}/Status.plist`], this.progress);
    let previousManifest: PreviousManifest | null = null;
    const hostStatus = statusFiles.get(`${base}/Status.plist`);
    if (hostStatus && options['ForceFullBackup'] !== true && this.statusUsable(hostStatus)) {
      const dbPath = `${base}/Manifest.db`;
      // The copy this device last sent is compared as it comes back, not kept: it is usually that one.
      const sent = encryption ? undefined : lastSentManifest.get(dataset);
      const readBack = sent ? new ExpectedBytes(sent.db) : null;
      // Without that copy (a restarted phone), hashed as it comes: the digest finds the record of its rows, if this device sent it.
      const hashed = !readBack && this.state.backupRecords ? { hash: this.state.backupRecords.sha256(), bytes: new ChunkedBytes() } : null;
      const kept = readBack ?? hashed?.bytes;
      const keepInto = (piece: Uint8Array): void => {
        if (kept!.byteLength + piece.byteLength > MAX_DOWNLOAD_BYTES) throw new ProtocolError('mobilebackup2', `${dbPath} is larger than ${MAX_DOWNLOAD_BYTES} bytes`);
        hashed?.hash.update(piece);
        kept!.append(piece);
      };
      const manifests = await this.link.downloadFileParts([`${base}/Manifest.plist`, dbPath], this.progress, (path) =>
        path === dbPath && kept ? keepInto : undefined,
      );
      // Its parts may be the ones sent (when they match), which the update below writes over.
      lastSentManifest.delete(dataset);
      const sentEncrypted = encryption ? lastSentEncryptedManifest.get(dataset) : undefined;
      lastSentEncryptedManifest.delete(dataset);
      const plist = manifests.get(`${base}/Manifest.plist`)?.bytes();
      const db = kept ? (manifests.has(dbPath) ? kept.parts() : undefined) : manifests.get(dbPath)?.parts();
      // Taken once: it finds the record and, for an encrypted backup, tells the copy last sent from memory.
      const digest = hashed && db ? hashed.hash.digest() : undefined;
      const recorded = digest ? this.recall(digest, encryption !== null) : undefined;
      previousManifest = await this.previousManifest(plist, db, encryption, readBack?.same ? sent : recorded, sentEncrypted, digest);
      if (previousManifest && behaviour.copiesPreviousManifest) this.previousPlist = plist;
    }
    const previous = previousManifest?.rows ?? null;
    const isFull = previous === null;
    if (behaviour.listsBackupFolder) await this.checkListing(`${base}`, hostStatus !== undefined);

    // 2. Plan: which files go up, which disappear. Rows are numbers here (a listing's index), not objects.
    const list = dataset.listing(encrypted);
    const rows = new BackupRows(list, previous, encrypted);
    const { refs, keys } = rows;
    // The rows whose files go up (a typed array: a full backup of a huge phone has 1.3M).
    let uploadCount = 0;
    const uploadRows = new Int32Array(list.length);
    for (let i = 0; i < list.length; i++) {
      if (list.kind(i) !== 'file') continue;
      const ref = refs ? refs[i]! : -1;
      if (previous && ref >= 0 && previous.flags(ref) === 1 && previous.size(ref) === list.size(i) && previous.lastModified(ref) === list.mtime(i)) {
        const key = previous.encryptionKey(ref);
        if (!encrypted || key) {
          keys?.set(i, key);
          continue;
        }
      }
      uploadRows[uploadCount++] = i;
    }
    const uploads = uploadRows.subarray(0, uploadCount);
    const removed: string[] = [];
    for (const ref of previous?.gone() ?? []) if (previous!.flags(ref) === 1) removed.push(payloadPath(base, previous!.fileId(ref)));
    let uploadBytes = 0;
    for (const i of uploads) uploadBytes += encrypted ? encryptedSize(list.size(i)) : list.size(i);

    // 3. Free space gate.
    await this.checkFreeSpace(uploadBytes + list.length * 512);

    const snapshotUuid = uuid();
    await this.writeStatus('uploading', isFull, snapshotUuid);

    // 4. Upload into Snapshot/, a batch at a time (a full backup of a 1.3M-file phone would otherwise hold an item per file).
    await this.createDirectory(`${base}/Snapshot`);
    if (this.previousPlist) await this.checkCopy(`${base}/Manifest.plist`, `${base}/Snapshot/Manifest.plist.previous`, this.previousPlist);
    const prefixSet = new Set<string>();
    for (const i of uploads) prefixSet.add(rows.fileId(i).slice(0, 2));
    const prefixes = [...prefixSet].sort();
    for (const prefix of prefixes) await this.createDirectory(`${base}/Snapshot/${prefix}`);
    const uploadItem = async (i: number): Promise<UploadItem> => {
      const entry = list.at(i);
      const item: UploadItem = {
        deviceName: `${entry.domain}-${entry.relativePath}`,
        destination: payloadPath(base, rows.fileId(i), true),
        content: entry.content!,
        size: entry.size,
      };
      if (encryption) {
        const key = await encryption.newFileKey(entry.protectionClass);
        keys!.set(i, key.encryptionKey);
        item.key = key.key;
      }
      return item;
    };
    let sentBytes = 0;
    for (let u = 0; u < uploads.length; ) {
      const batch: UploadItem[] = [];
      let batchBytes = 0;
      while (u < uploads.length && batch.length < this.state.batchFiles && (batch.length === 0 || batchBytes < 64 * 1024 * 1024)) {
        const item = await uploadItem(uploads[u++]!);
        batch.push(item);
        batchBytes += item.key ? encryptedSize(item.size) : item.size;
      }
      this.progress = uploadBytes === 0 ? 90 : (sentBytes / uploadBytes) * 90;
      await this.uploadBatch(batch, batchBytes);
      sentBytes += batchBytes;
      if (behaviour.asksFreeSpaceEachBatch) await this.checkFreeSpace(Math.max(0, uploadBytes - sentBytes));
    }

    // 5. Manifest.db and Manifest.plist go up last, into the snapshot too.
    const previousDb = previousManifest?.db ?? null;
    const manifestDb = encryption ? await newManifestDb(rows, previousDb) : await plainManifestDb(dataset, () => newManifestDb(rows, previousDb));
    previousManifest = null; // the previous file (1.19 GB on a huge phone) is not needed past here
    const manifestPlist: PlistDict = await this.manifestPlist(dataset, encryption);
    let manifestDbParts = manifestDb;
    // The encrypted file's digest is needed only once the backup is done: WebCrypto hashes it while it goes up.
    let digesting: Promise<Uint8Array> | undefined;
    if (encryption && manifestPlist['__manifestKey']) {
      const key = (manifestPlist['__manifestKey'] as Uint8Array | undefined)!;
      delete manifestPlist['__manifestKey'];
      const encrypted = await BackupEncryption.encryptWhole(key, concatBytes(manifestDb));
      manifestDbParts = [encrypted];
      digesting = sha256(encrypted);
      digesting.catch(() => undefined); // awaited below; a failed upload must not leave it unhandled
    }
    // Kept only when plainManifestDb keeps these bytes anyway (an encrypted backup's plaintext would be a second copy).
    if (encryption) lastSentManifest.delete(dataset);
    else lastSentManifest.set(dataset, { db: manifestDb, rows: rows.asSent() });
    const manifestDbSize = manifestDbParts.reduce((n, part) => n + part.byteLength, 0);
    const plistBytes = encodeBinaryPlist(manifestPlist);
    this.progress = 92;
    await this.uploadBatch(
      [
        { deviceName: 'Manifest.db', destination: `${base}/Snapshot/Manifest.db`, content: manifestDbParts.length === 1 ? bytesContent(manifestDbParts[0]!) : partsContent(manifestDbParts), size: manifestDbSize },
        { deviceName: 'Manifest.plist', destination: `${base}/Snapshot/Manifest.plist`, content: bytesContent(plistBytes), size: plistBytes.byteLength },
      ],
      manifestDbSize + plistBytes.byteLength,
    );
    // An encrypted backup whose Manifest.db went up plain (before iOS 10.2) is remembered by its parts:
    // an entry left from an earlier backup names a file the host no longer has.
    const sentSha256 = digesting ? await digesting : undefined;
    if (sentSha256) lastSentEncryptedManifest.set(dataset, { size: manifestDbSize, sha256: sentSha256, rows: rows.asSent() });
    else lastSentEncryptedManifest.delete(dataset);
    const toRemember = { rows: rows.asSent(), encrypted: encryption !== null, ...(sentSha256 ? { sha256: sentSha256 } : { parts: manifestDbParts }) };

    // 6. Move into place: per file, so unchanged files in the same xx/ folder survive.
    await this.writeStatus('moving', isFull, snapshotUuid);
    for (const prefix of prefixes) await this.createDirectory(`${base}/${prefix}`);
    // Made 1,000 at a time: 1.3M pairs of paths at once were hundreds of MB.
    const moveCount = uploads.length + 2;
    const move = (m: number): [string, string] => {
      if (m === uploads.length) return [`${base}/Snapshot/Manifest.db`, `${base}/Manifest.db`];
      if (m === uploads.length + 1) return [`${base}/Snapshot/Manifest.plist`, `${base}/Manifest.plist`];
      const fileId = rows.fileId(uploads[m]!);
      return [payloadPath(base, fileId, true), payloadPath(base, fileId)];
    };
    for (let i = 0; i < moveCount; i += 1000) {
      this.progress = 94 + (i / moveCount) * 3;
      const chunk: PlistDict = {};
      for (let m = i; m < Math.min(moveCount, i + 1000); m++) {
        const [from, to] = move(m);
        chunk[from] = to;
      }
      await this.link.send([behaviour.moveMessage ?? 'DLMessageMoveItems', chunk, {}, progressReal(this.progress)]);
      await this.expectOk('MoveItems');
    }

    // 7. Remove deleted files and the snapshot folder.
    await this.writeStatus('removing', isFull, snapshotUuid);
    const removals = [...removed, `${base}/Snapshot`];
    for (let i = 0; i < removals.length; i += 1000) {
      this.progress = 98;
      await this.link.send([behaviour.removeMessage ?? 'DLMessageRemoveItems', removals.slice(i, i + 1000), {}, progressReal(this.progress)]);
      const reply = await this.link.statusResponse();
      if (reply.status !== 0 && removals.slice(i, i + 1000).includes(`${base}/Snapshot`)) {
        throw new BackupFailure(104, 'Error removing snapshot directory');
      }
    }
    this.progress = 100;
    await this.writeStatus('finished', isFull, snapshotUuid);
    if (this.state.backupRecords) this.sent = toRemember;
  }

  /**
   * Files the rows of the Manifest.db this backup sent (state.backupRecords), for the next backup after
   * a restart. Called once the host has its answer, and a slice at a time: on a 1.3M-file phone the
   * fingerprints, the hash and the 70 MB record take a few seconds, while the host still talks to this
   * phone (sync lock, notifications, the end of its session) and should not wait for them.
   */
  async remember(): Promise<void> {
    const store = this.state.backupRecords;
    const sent = this.sent;
    this.sent = undefined;
    if (!store || !sent) return;
    // A full backup worked out no fingerprint (an incremental did, for every row).
    for (let ref = 0; ref < sent.rows.count; ref++) {
      sent.rows.fingerprint(ref);
      if (ref % REMEMBER_SLICE_ROWS === REMEMBER_SLICE_ROWS - 1) await nextTask();
    }
    let digest = sent.sha256;
    if (!digest) {
      const hash = store.sha256();
      for (const part of sent.parts ?? []) await hashInSlices(hash, part, REMEMBER_SLICE_BYTES, nextTask);
      digest = hash.digest();
    }
    const record = await encodeBackupRecordInSlices(sent.rows, sent.encrypted, () => store.sha256(), nextTask, REMEMBER_SLICE_ROWS, REMEMBER_SLICE_BYTES);
    if (record) await store.save(hexOf(digest), record);
  }

  /** The rows filed under the digest of the host's Manifest.db, if this device sent that very file. */
  private recall(digest: Uint8Array, encrypted: boolean): { rows: PreviousRows } | undefined {
    let record;
    try {
      const store = this.state.backupRecords;
      const bytes = store?.load(hexOf(digest));
      record = store && bytes ? decodeBackupRecord(bytes, () => store.sha256()) : null;
    } catch {
      return undefined; // only a shortcut: without it the host's copy is read, as with no record
    }
    return record && record.encrypted === encrypted ? { rows: record.rows } : undefined;
  }

  private statusUsable(bytes: Uint8Array): boolean {
    try {
      const status = decodePlist(bytes);
      return isPlistDict(status) && typeof status['Version'] === 'string' && Number.parseFloat(status['Version']) >= 3.3;
    } catch {
      return false;
    }
  }

  /** The host's previous manifest, or null (→ full backup) if missing, unreadable or from other keys. */
  private async previousManifest(
    plistBytes: Uint8Array | undefined,
    dbBytes: readonly Uint8Array[] | undefined,
    encryption: BackupEncryption | null,
    sentAsIs?: { rows: PreviousRows },
    sentEncrypted?: SentEncryptedManifest,
    digest?: Uint8Array,
  ): Promise<PreviousManifest | null> {
    if (!plistBytes || !dbBytes) return null;
    let manifest: PlistValue;
    try {
      manifest = decodePlist(plistBytes);
    } catch {
      return null;
    }
    if (!isPlistDict(manifest)) return null;
    const wasEncrypted = manifest['IsEncrypted'] === true;
    if (wasEncrypted !== (encryption !== null)) return null; // encryption settings changed → full
    let db = dbBytes;
    if (encryption && this.state.behaviour.manifestKey !== false) {
      const keybag = manifest['BackupKeyBag'];
      const manifestKey = manifest['ManifestKey'];
      if (!(keybag instanceof Uint8Array) || !sameBytes(keybag, encryption.keybag) || !(manifestKey instanceof Uint8Array)) return null;
      const key = await encryption.unwrapFileKey(manifestKey);
      if (!key) return null;
      const whole = concatBytes(dbBytes);
      // Hashed and decrypted at once: WebCrypto does both off this thread, each a pass over 1.19 GB on a huge phone.
      const hashing = !sentAsIs && sentEncrypted && whole.byteLength === sentEncrypted.size ? (digest ?? sha256(whole)) : undefined;
      const [plain, hashed] = await Promise.all([aesCbcDecrypt(key, whole).catch(() => null), hashing]);
      if (!plain) return null;
      if (sentEncrypted && hashed && sameBytes(hashed, sentEncrypted.sha256)) sentAsIs = sentEncrypted;
      db = [plain];
    }
    if (sentAsIs) return { rows: sentAsIs.rows, db };
    const rows = await readManifestDb(db);
    return rows ? { rows, db } : null;
  }

  private async manifestPlist(dataset: Dataset, encryption: BackupEncryption | null): Promise<PlistDict> {
    const root = this.state.lockdownRoot();
    const pick = (k: string): PlistValue | undefined => root[k];
    const lockdown: PlistDict = {
      'com.apple.Accessibility': { ClosedCaptioningEnabledByiTunes: false, InvertDisplayEnabledByiTunes: false, MonoAudioEnabledByiTunes: false, SpeakAutoCorrectionsEnabledByiTunes: false, VoiceOverTouchEnabledByiTunes: false, ZoomTouchEnabledByiTunes: false },
      'com.apple.MobileDeviceCrashCopy': { ShouldSubmit: false },
      'com.apple.TerminalFlashr': {},
      'com.apple.mobile.data_sync': {},
      'com.apple.mobile.iTunes.accessories': {},
      BuildVersion: pick('BuildVersion') ?? '22G86',
      DeviceName: pick('DeviceName') ?? 'iPhone',
      ProductType: pick('ProductType') ?? 'iPhone12,1',
      ProductVersion: pick('ProductVersion') ?? this.state.productVersion(),
      SerialNumber: pick('SerialNumber') ?? 'F2LXXXXXXXXX',
      UniqueDeviceID: this.udid,
    };
    const applications: PlistDict = {};
    for (const app of dataset.apps) {
      applications[app.bundleId] = {
        CFBundleIdentifier: app.bundleId,
        CFBundleVersion: app.version,
        ContainerContentClass: 'Data/Application',
        Path: `/private/var/containers/Bundle/Application/${fileIdFor('app', app.bundleId).slice(0, 8).toUpperCase()}/${app.name}.app`,
      };
    }
    const plist: PlistDict = {
      BackupKeyBag: encryption ? encryption.keybag : deviceOnlyKeybag(),
      Version: '10.0',
      SystemDomainsVersion: '24.0',
      Date: new Date(),
      IsEncrypted: encryption !== null,
      WasPasscodeSet: this.state.passcode !== null || root['PasswordProtected'] === true,
      Lockdown: lockdown,
      Applications: applications,
    };
    // Before iOS 10.2 an encrypted backup's Manifest.db was plain and Manifest.plist had no ManifestKey.
    if (encryption && this.state.behaviour.manifestKey !== false) {
      const key = await encryption.manifestKey();
      plist['ManifestKey'] = key.encryptionKey;
      plist['__manifestKey'] = key.key;
    }
    return plist;
  }

  private async checkFreeSpace(needed: number): Promise<void> {
    const ask = async (): Promise<number> => {
      await this.link.send(['DLMessageGetFreeDiskSpace']);
      const reply = await this.link.statusResponse();
      const p = reply.payload;
      return reply.status === 0 ? (typeof p === 'bigint' ? Number(p) : typeof p === 'number' ? p : 0) : 0;
    };
    const required = needed + FREE_SPACE_MARGIN;
    let free = this.state.faults.errorCode === 105 ? 0 : await ask();
    if (free >= required) return;
    await this.link.send(['DLMessagePurgeDiskSpace', required - free + 2 * 1024 ** 3, 4]);
    await this.link.statusResponse();
    free = this.state.faults.errorCode === 105 ? 0 : await ask();
    if (free < required) throw new BackupFailure(105, `Insufficient free disk space on drive to back up (need ${required} bytes, have ${free})`);
  }

  /** DLContentsOfDirectory: the host's listing must show the Status.plist it just sent us (or nothing for a new backup). */
  private async checkListing(path: string, hasStatus: boolean): Promise<void> {
    await this.link.send(['DLContentsOfDirectory', path, {}]);
    const reply = await this.link.statusResponse();
    const listing = reply.payload;
    if (reply.status !== 0 || !isPlistDict(listing)) throw new BackupFailure(100, `Host could not list ${path}: ${reply.message} (${reply.status})`);
    const status = listing['Status.plist'];
    const listed = isPlistDict(status) && status['DLFileType'] === 'DLFileTypeRegular' && typeof status['DLFileSize'] === 'number';
    if (listed !== hasStatus) throw new BackupFailure(100, `Host listing of ${path} ${hasStatus ? 'lacks' : 'shows'} Status.plist`);
  }

  /** DLMessageCopyItem, then reads the copy back: it must hold the bytes of the original. */
  private async checkCopy(from: string, to: string, original: Uint8Array): Promise<void> {
    await this.link.send(['DLMessageCopyItem', from, to, {}, progressReal(this.progress)]);
    await this.expectOk('CopyItem');
    const copy = (await this.link.downloadFiles([to], this.progress)).get(to);
    if (!sameBytes(copy, original)) throw new BackupFailure(100, `Host's copy of ${from} differs from the original`);
  }

  private async createDirectory(path: string): Promise<void> {
    await this.link.send(['DLMessageCreateDirectory', path, {}, progressReal(this.progress)]);
    const reply = await this.link.statusResponse();
    if (reply.status !== 0 && reply.status !== -7) throw new BackupFailure(100, `Host could not create ${path}: ${reply.message}`);
  }

  private async expectOk(what: string): Promise<void> {
    const reply = await this.link.statusResponse();
    if (reply.status !== 0) throw new BackupFailure(reply.status === -15 ? 105 : 102, `${what} failed on the host: ${reply.message} (${reply.status})`);
  }

  private async writeStatus(snapshotState: string, isFull: boolean, snapshotUuid: string): Promise<void> {
    const status = encodeBinaryPlist({ BackupState: 'new', Date: new Date(), IsFullBackup: isFull, SnapshotState: snapshotState, UUID: snapshotUuid, Version: '3.3' });
    await this.uploadBatch([{ deviceName: 'Status.plist', destination: `${this.udid}/Status.plist`, content: bytesContent(status), size: status.byteLength }], status.byteLength);
  }

  private async uploadBatch(items: UploadItem[], batchBytes: number): Promise<void> {
    await this.link.send(['DLMessageUploadFiles', {}, progressReal(this.progress), batchBytes]);
    const chunk = this.state.uploadChunkBytes;
    const out = new CoalescingWriter((bytes) => this.link.writeRaw(bytes));
    for (const item of items) {
      await out.lengthPrefixed(item.deviceName);
      await out.lengthPrefixed(item.destination);
      if (item.key) {
        const encryptor = await BackupEncryption.encryptor(item.key);
        const plain = new Uint8Array(Math.min(chunk, item.size));
        for (let offset = 0; offset < item.size; offset += chunk) {
          const n = item.content.readInto(offset, plain.subarray(0, Math.min(chunk, item.size - offset)));
          const cipher = await encryptor.update(plain.subarray(0, n));
          if (cipher.byteLength > 0) await out.write(block(DL_CODE.fileData, cipher));
        }
        await out.write(block(DL_CODE.fileData, await encryptor.final()));
      } else {
        for (let offset = 0; offset < item.size; offset += chunk) {
          const length = Math.min(chunk, item.size - offset);
          const view = item.content.view?.(offset, length);
          if (view && view.byteLength === length) {
            // Content already in memory goes out as it is (copied along when small), behind its header.
            await out.blockHeader(DL_CODE.fileData, length);
            await out.write(view);
            continue;
          }
          if (length < DIRECT_WRITE_BYTES) {
            // Generated small content is filled straight into the joined buffer.
            await out.blockHeader(DL_CODE.fileData, length);
            item.content.readInto(offset, await out.reserve(length));
            continue;
          }
          // Generated content: the block header and the data share one buffer, filled in place.
          const frame = new Uint8Array(5 + length);
          new DataView(frame.buffer).setUint32(0, length + 1);
          frame[4] = DL_CODE.fileData;
          item.content.readInto(offset, frame.subarray(5));
          await out.write(frame);
        }
      }
      await out.blockHeader(DL_CODE.success, 0);
    }
    await out.reserve(4).then((end) => end.fill(0)); // end of batch
    await out.flush();
    await this.expectOk('UploadFiles');
  }
}

/**
 * Gathers small writes (per-file headers, small files) into one transport write: one stream write
 * per piece was most of the cost of a small file, and so was one small ArrayBuffer per header or
 * name (in Chromium an allocation is a trip through its allocator, and new memory page-faults).
 * Pieces are written in place into a buffer that is carved front to back: what was handed to the
 * transport is never written again (the transport may keep it), and a new buffer is taken only
 * when the rest of the current one is too small. Large pieces go straight through.
 */
class CoalescingWriter {
  private buffer = EMPTY;
  private view = new DataView(EMPTY.buffer);
  /** Start of the bytes not yet handed to the transport. */
  private start = 0;
  private used = 0;

  constructor(private readonly sink: (bytes: Uint8Array) => Promise<void>) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength >= DIRECT_WRITE_BYTES) {
      await this.flush();
      await this.sink(bytes);
      return;
    }
    (await this.reserve(bytes.byteLength)).set(bytes);
  }

  /** `length` bytes of the joined buffer, for the caller to fill before its next call. */
  async reserve(length: number): Promise<Uint8Array> {
    // Checked before handing out more: what is pending has been filled by now.
    if (this.used - this.start >= COALESCE_BYTES) await this.flush();
    if (this.used + length > this.buffer.byteLength) {
      await this.flush();
      this.buffer = new Uint8Array(Math.max(BUFFER_BYTES, length));
      this.view = new DataView(this.buffer.buffer);
      this.start = 0;
      this.used = 0;
    }
    const out = this.buffer.subarray(this.used, this.used + length);
    this.used += length;
    return out;
  }

  /** u32 BE byte length, then the UTF-8 text (a file name in an upload stream). */
  async lengthPrefixed(text: string): Promise<void> {
    const room = await this.reserve(4 + text.length * 3);
    const { written } = encoder.encodeInto(text, room.subarray(4));
    this.view.setUint32(room.byteOffset, written);
    this.used -= text.length * 3 - written;
  }

  /** The 5 bytes before a block's payload: u32 BE (len + 1), code. */
  async blockHeader(code: number, payloadLength: number): Promise<void> {
    const at = (await this.reserve(5)).byteOffset;
    this.view.setUint32(at, payloadLength + 1);
    this.buffer[at + 4] = code;
  }

  async flush(): Promise<void> {
    if (this.used === this.start) return;
    const joined = this.buffer.subarray(this.start, this.used);
    this.start = this.used;
    await this.sink(joined);
  }
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** One file-stream block: u32 BE (len + 1), code, payload. */
function block(code: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength + 1);
  out[4] = code;
  out.set(payload, 5);
  return out;
}
