import { blobChunks } from '../core/blob-chunks.ts';
import { blobFileRead } from '../core/blob-file-read.ts';
import type { FileRead } from '../core/file-read.ts';
import { CorruptBackupError } from '../core/errors.ts';
import { decodePlist, isPlistDict, type PlistDict, type PlistValue } from '../plist/index.ts';
import { decryptStream } from './crypto/aes-cbc.ts';
import { decryptingFileRead, nativeSyncAes, type DecryptingFileRead } from './crypto/decrypting-file-read.ts';
import type { ScratchSpace } from './source/scratch-copy.ts';
import { parseKeybag, unlockKeybag, unwrapFileKey, unwrapFileKeyBytes, type ClassKeys, type Keybag } from './crypto/keybag.ts';
import { BackupLockedError, MissingBackupFileError } from './errors.ts';
import { ManifestDb, type ManifestEntry } from './manifest-db.ts';
import type { EntryKind, MbFile } from './mbfile.ts';
import type { BackupSource } from './source/backup-source.ts';
import { openDatabaseBytes, type Database } from './sqlite.ts';
import { applyWal } from './sqlite-wal.ts';
import { collectBytes } from '../core/bytes.ts';
import { decryptingReader, scanManifestRows, type ManifestRow } from './manifest-scan.ts';
import type { RangeReader } from './sqlite-scan/range-reader.ts';
import { UnsupportedDatabaseError } from './sqlite-scan/sqlite-file-scanner.ts';

/** Databases a reader keeps open at once (sms.db and AddressBook for search, plus one). */
const SHARED_DATABASES = 3;
/**
 * A Manifest.db the in-place scanner cannot read is loaded into SQLite instead, whose verdict then
 * stands — but only up to this size (about 300k files), beyond which loading it is what in-place
 * reading exists to avoid.
 */
const IN_MEMORY_FALLBACK_BYTES = 256 * 1024 * 1024;
/**
 * Manifest.db is read into SQLite's memory this much at a time: in OPFS each read is a File snapshot
 * and a blob read, a round trip to the browser's storage process (4 MiB reads made opening a 356 MB
 * Manifest.db take 4.5 s where reading it whole took 3.3 s and 64 MiB reads 3.9 s, one run each).
 */
const MANIFEST_READ_BYTES = 64 * 1024 * 1024;
/** …and this much at a time when the source has it as a Blob, read into one reused buffer (blobChunks). */
const MANIFEST_BLOB_CHUNK_BYTES = 8 * 1024 * 1024;
/**
 * Where synchronous AES is JavaScript's (the browser), an encrypted Manifest.db smaller than this is
 * decrypted into SQLite's memory with WebCrypto rather than read in place: that streams faster than
 * @noble/ciphers decrypts the pages SQLite reads (≈85 MB/s), and memory holds it easily.
 */
const ENCRYPTED_IN_MEMORY_BYTES = 256 * 1024 * 1024;

/**
 * A Manifest.db read only through a Blob is read in place from this size: a read through FileReaderSync
 * costs ≈0.6 ms, so a smaller one, which loads into memory in well under a second, is loaded, and each
 * later lookup costs nothing.
 */
const BLOB_IN_PLACE_MIN_BYTES = 64 * 1024 * 1024;

export interface BackupReaderOptions {
  /**
   * 'in-memory' (the default) loads Manifest.db into SQLite for browsing, search and lookups.
   * 'in-place' never loads it: only manifestRows() is available, and it reads the database from
   * storage a window at a time — what a restore's checks of a 1.3M-file backup need.
   */
  manifest?: 'in-memory' | 'in-place';
  /** Bytes of a plain Manifest.db read into SQLite so far, of its size (opening a 1.3M-file backup reads 1.2 GB). */
  onManifestBytes?: (done: number, total: number) => void;
  /**
   * Where a big Manifest.db the source cannot read synchronously (a zip; a picked folder's only where
   * the worker has no FileReaderSync) is copied so SQLite reads the copy in place instead of holding the
   * whole file in memory.
   */
  scratch?: ScratchSpace;
  /** From what size a Manifest.db had only as a Blob is read through it in place (64 MiB; tests go lower). */
  blobInPlaceMinBytes?: number;
}

export interface BackupSummary {
  deviceName: string | undefined;
  productType: string | undefined;
  productVersion: string | undefined;
  buildVersion: string | undefined;
  serialNumber: string | undefined;
  udid: string | undefined;
  /** ISO 8601; when the backup was made (Status.plist, else Manifest.plist, else Info.plist). */
  date: string | undefined;
  encrypted: boolean;
  /** True while an encrypted backup still waits for its password. */
  locked: boolean;
  /** Status.plist SnapshotState "finished" → complete; anything else → interrupted. */
  state: 'complete' | 'interrupted' | 'unknown';
  snapshotState: string | undefined;
  isFullBackup: boolean | undefined;
  /** Manifest.db rows that are regular files (undefined while locked). */
  fileCount: number | undefined;
  /** Sum of MBFile sizes of those files. */
  totalSize: number | undefined;
  /** Things that could not be read; the rest of the backup is still usable. */
  problems: string[];
}

/** What the UI shows for one file. */
export interface FileMetadata {
  fileID: string;
  domain: string;
  relativePath: string;
  kind: EntryKind;
  size: number;
  mode: number;
  userId: number;
  groupId: number;
  /** ISO 8601 */
  lastModified: string | undefined;
  birth: string | undefined;
  protectionClass: number;
  symlinkTarget: string | undefined;
  extendedAttributes: Record<string, Uint8Array> | undefined;
  encrypted: boolean;
}

function dict(value: PlistValue | undefined): PlistDict | undefined {
  return isPlistDict(value) ? value : undefined;
}
function str(value: PlistValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
function iso(value: PlistValue | undefined): string | undefined {
  return value instanceof Date && !Number.isNaN(value.getTime()) ? value.toISOString() : undefined;
}
function unixIso(seconds: number): string | undefined {
  return seconds > 0 ? new Date(seconds * 1000).toISOString() : undefined;
}

export function payloadPath(fileID: string): string {
  return `${fileID.slice(0, 2)}/${fileID}`;
}

/**
 * A backup folder opened for reading: plists, the (decrypted) Manifest.db, and payload files
 * decrypted on demand. Keys live only in this object's memory; nothing decrypted touches storage.
 */
export class BackupReader {
  private manifestDb: ManifestDb | undefined;
  private classKeys: ClassKeys | undefined;
  private keybag: Keybag | undefined;
  /** Manifest.db's own key (encrypted backups, iOS 10.2+), kept for reading it in place. */
  private manifestKey: { key: CryptoKey; bytes: Uint8Array } | undefined;
  private cachedTotals: { fileCount: number; totalSize: number } | undefined;
  private holdsHandle = false;
  /** Insertion order is recency: the first entry is the least recently used. */
  private readonly shared = new Map<string, Promise<Database | undefined>>();

  private constructor(
    readonly source: BackupSource,
    readonly info: PlistDict | undefined,
    readonly manifestPlist: PlistDict | undefined,
    readonly status: PlistDict | undefined,
    readonly encrypted: boolean,
    private readonly problems: string[],
    private readonly inPlace: boolean,
    private readonly scratch: ScratchSpace | undefined,
    private readonly blobInPlaceMinBytes: number,
  ) {}

  static async open(source: BackupSource, options: BackupReaderOptions = {}): Promise<BackupReader> {
    const inPlace = options.manifest === 'in-place';
    const problems: string[] = [];
    const readPlist = async (name: string): Promise<PlistDict | undefined> => {
      const stat = await source.stat(name);
      if (!stat) return undefined;
      try {
        const value = decodePlist(await source.readFile(name));
        if (!isPlistDict(value)) throw new Error('not a dictionary');
        return value;
      } catch (error) {
        problems.push(`${name} could not be read (${(error as Error).message}).`);
        return undefined;
      }
    };
    const info = await readPlist('Info.plist');
    const manifestPlist = await readPlist('Manifest.plist');
    const status = await readPlist('Status.plist');
    const encrypted = manifestPlist?.['IsEncrypted'] === true;
    const reader = new BackupReader(source, info, manifestPlist, status, encrypted, problems, inPlace, options.scratch, options.blobInPlaceMinBytes ?? BLOB_IN_PLACE_MIN_BYTES);
    if (!(await source.stat('Manifest.db'))) {
      if (await source.stat('Manifest.mbdb')) {
        throw new CorruptBackupError('This is a pre-iOS 10 backup (Manifest.mbdb), which Lifeboat cannot read yet.');
      }
      throw new MissingBackupFileError('Manifest.db');
    }
    if (encrypted) {
      const bag = manifestPlist?.['BackupKeyBag'];
      if (!(bag instanceof Uint8Array)) throw new CorruptBackupError('This encrypted backup has no keybag in Manifest.plist.');
      reader.keybag = parseKeybag(bag);
    } else if (!inPlace) {
      reader.manifestDb = await reader.loadManifest(undefined, options.onManifestBytes);
    }
    return reader;
  }

  /**
   * Whether Manifest.db is (or was) read through a handle that keeps others from changing or removing
   * the file while it is open (an OPFS read-only sync access handle): such a reader must not be kept open
   * longer than it is used.
   */
  get holdsFileHandle(): boolean {
    return this.holdsHandle;
  }

  get locked(): boolean {
    return this.encrypted && !this.classKeys;
  }

  /**
   * Derives the keys from the password and decrypts Manifest.db. WrongPasswordError if it does not fit.
   * `onManifestBytes` counts Manifest.db's bytes as they are decrypted.
   */
  async unlock(password: string, onManifestBytes?: (done: number, total: number) => void): Promise<void> {
    if (!this.encrypted) return;
    if (!this.keybag) throw new CorruptBackupError('This encrypted backup has no usable keybag.');
    const classKeys = await unlockKeybag(this.keybag, password);
    const manifestKey = this.manifestPlist?.['ManifestKey'];
    const key = manifestKey instanceof Uint8Array ? await unwrapFileKeyBytes(classKeys, manifestKey, 'Manifest.db') : undefined;
    // else iOS 10.0–10.1: Manifest.db itself is plain, only payloads are encrypted
    if (!this.inPlace) {
      const db = await this.loadManifest(key, onManifestBytes);
      this.manifestDb?.close();
      this.manifestDb = db;
    }
    this.manifestKey = key;
    this.classKeys = classKeys;
  }

  /**
   * Every Manifest.db row with its MBFile blob. In place, in row-id order, from storage a window at
   * a time (a few MiB however big the backup); when the scanner cannot read the file and it is
   * small enough, SQLite reads it instead and the rows go on from where the scan stopped.
   */
  async *manifestRows(): AsyncGenerator<ManifestRow> {
    if (this.manifestDb) {
      yield* this.manifestDb.rows();
      return;
    }
    if (this.locked) throw new BackupLockedError();
    const size = (await this.source.stat('Manifest.db'))?.size ?? 0;
    const raw: RangeReader = { size, read: (start, end) => this.source.readRange('Manifest.db', start, end) };
    let yielded = 0;
    try {
      const reader = this.manifestKey ? await decryptingReader(raw, this.manifestKey.key, 'Manifest.db') : raw;
      for await (const row of scanManifestRows(reader)) {
        yield row;
        yielded++;
      }
    } catch (error) {
      if (!(error instanceof CorruptBackupError || error instanceof UnsupportedDatabaseError) || size > IN_MEMORY_FALLBACK_BYTES) throw error;
      const db = await this.loadManifest(this.manifestKey);
      try {
        let index = 0;
        for (const row of db.rows('rowid')) if (index++ >= yielded) yield row;
      } finally {
        db.close();
      }
    }
  }

  /**
   * Manifest.db opened in SQLite: read where it lies, or from a scratch copy, or else read from storage
   * straight into SQLite's memory (never whole in JS memory too); decrypted with `key` when it has
   * one. `onBytes` counts the file's bytes read or copied.
   */
  private async loadManifest(key: { key: CryptoKey; bytes: Uint8Array } | undefined, onBytes?: (done: number, total: number) => void): Promise<ManifestDb> {
    const stat = await this.source.stat('Manifest.db');
    if (!stat) throw new MissingBackupFileError('Manifest.db');
    if (stat.kind !== 'file') throw new CorruptBackupError('Manifest.db is a folder, not a file.');
    const count = (chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> => (onBytes ? counted(chunks, stat.size, onBytes) : chunks);
    if (key && stat.size % 16 !== 0) throw new CorruptBackupError(`Manifest.db is damaged: its encrypted length (${stat.size}) is not a whole number of blocks.`);
    // Where the file can be read synchronously (a Node file; OPFS in a worker), SQLite reads it in place
    // (decrypting the pages it reads): copying a 1.3M-file backup's 1.19 GB Manifest.db in took 6-9 s
    // in Chromium and held it all. A big one had only as a Blob (a picked folder's) is read through it;
    // elsewhere (a zip) a big one is copied to the scratch space and read there.
    // openDatabaseChunks and a scratch copy take each chunk before asking for the next, so the chunks
    // of a Blob may share one buffer (no fresh memory per chunk: ≈1.75x faster in Chromium). Not so
    // decryption below, which keeps a chunk until its slices are decrypted.
    const source = this.source;
    // Asked for only when the file is read through chunks: a file read in place needs no Blob.
    const chunks = async function* (): AsyncIterable<Uint8Array> {
      const blob = await source.fileBlob?.('Manifest.db');
      yield* count(blob && blob.size === stat.size ? blobChunks(blob, MANIFEST_BLOB_CHUNK_BYTES) : source.stream('Manifest.db', MANIFEST_READ_BYTES));
    };
    const decryptIntoMemory = key !== undefined && !nativeSyncAes && stat.size < ENCRYPTED_IN_MEMORY_BYTES;
    const held = decryptIntoMemory ? null : ((await this.source.fileRead?.('Manifest.db')) ?? null);
    let inPlace = held ?? (decryptIntoMemory ? null : await this.blobRead(stat.size));
    const copied = !inPlace && !decryptIntoMemory && this.scratch !== undefined;
    if (copied) inPlace = await this.scratch!.copy(chunks(), stat.size, 'Manifest.db');
    if (inPlace) {
      if (inPlace.size === stat.size) {
        let file: DecryptingFileRead = inPlace;
        try {
          // Where synchronous AES is JavaScript's, WebCrypto decrypts ahead of the index's scan (6x as fast).
          if (key) file = decryptingFileRead(inPlace, key.bytes, 'Manifest.db', undefined, nativeSyncAes ? undefined : key.key);
        } catch (error) {
          inPlace.close();
          throw error;
        }
        if (!copied) onBytes?.(stat.size, stat.size);
        if (held) this.holdsHandle = true;
        return ManifestDb.open({ inPlace: file });
      }
      inPlace.close();
    }
    if (key) {
      // Reading the whole ciphertext, then decrypting it whole, then copying that in held a 1.19 GB
      // Manifest.db three times over. The decrypted file is up to one block shorter than the encrypted one.
      const plain = decryptStream(key.key, count(this.source.stream('Manifest.db', MANIFEST_READ_BYTES)), 'Manifest.db');
      return ManifestDb.open({ size: stat.size, chunks: plain, upTo: true });
    }
    return ManifestDb.open({ size: stat.size, chunks: chunks() });
  }

  /**
   * Manifest.db read synchronously through its Blob (a picked folder's file, in a worker): at 1.3M files
   * copying its 1.19 GB to scratch first took 8.8-10.1 s before the backup opened; read in place it
   * opens at once, and a scan reads it at the speed the copy did.
   */
  private async blobRead(size: number): Promise<FileRead | null> {
    if (size < this.blobInPlaceMinBytes) return null;
    const blob = await this.source.fileBlob?.('Manifest.db');
    return blob && blob.size === size ? blobFileRead(blob) : null;
  }

  /**
   * Builds Manifest.db's index now (listing, search and the summary's counts need it; it is otherwise built
   * on first use). Awaited, it lets WebCrypto decrypt an encrypted Manifest.db ahead of the scan, where
   * building it on first use decrypts page by page in JavaScript: 6x slower, 20 s at 1.3M files.
   */
  async prepareIndex(): Promise<void> {
    await this.manifestDb?.prepareIndexAsync();
  }

  get manifest(): ManifestDb {
    if (!this.manifestDb && this.inPlace && !this.locked) throw new Error('This backup was opened with Manifest.db in place: read it with manifestRows().');
    if (!this.manifestDb) throw new BackupLockedError();
    return this.manifestDb;
  }

  private totals(): { fileCount: number; totalSize: number } {
    this.cachedTotals ??= this.manifest.totals();
    return this.cachedTotals;
  }

  summary(): BackupSummary {
    const lockdown = dict(this.manifestPlist?.['Lockdown']);
    const pick = (infoKey: string, lockdownKey: string) => str(this.info?.[infoKey]) ?? str(lockdown?.[lockdownKey]);
    const snapshotState = str(this.status?.['SnapshotState']);
    const totals = this.manifestDb ? this.totals() : undefined;
    return {
      deviceName: pick('Device Name', 'DeviceName'),
      productType: pick('Product Type', 'ProductType'),
      productVersion: pick('Product Version', 'ProductVersion'),
      buildVersion: pick('Build Version', 'BuildVersion'),
      serialNumber: pick('Serial Number', 'SerialNumber'),
      udid: pick('Unique Identifier', 'UniqueDeviceID') ?? str(this.info?.['Target Identifier']),
      date: iso(this.status?.['Date']) ?? iso(this.manifestPlist?.['Date']) ?? iso(this.info?.['Last Backup Date']),
      encrypted: this.encrypted,
      locked: this.locked,
      state: snapshotState === undefined ? 'unknown' : snapshotState === 'finished' ? 'complete' : 'interrupted',
      snapshotState,
      isFullBackup: typeof this.status?.['IsFullBackup'] === 'boolean' ? (this.status['IsFullBackup'] as boolean) : undefined,
      fileCount: totals?.fileCount,
      totalSize: totals?.totalSize,
      problems: [...this.problems],
    };
  }

  metadata(fileID: string): FileMetadata | undefined {
    const entry = this.manifest.get(fileID);
    if (!entry) return undefined;
    const mb: MbFile | undefined = this.manifest.metadata(fileID);
    return {
      fileID,
      domain: entry.domain,
      relativePath: entry.relativePath,
      kind: entry.kind,
      size: mb?.size ?? 0,
      mode: mb?.mode ?? 0,
      userId: mb?.userId ?? 0,
      groupId: mb?.groupId ?? 0,
      lastModified: mb ? unixIso(mb.lastModified) : undefined,
      birth: mb ? unixIso(mb.birth) : undefined,
      protectionClass: mb?.protectionClass ?? 0,
      symlinkTarget: mb?.target,
      extendedAttributes: mb?.extendedAttributes,
      encrypted: !!mb?.encryptionKey && this.encrypted,
    };
  }

  /** Where a row's payload sits: `xx/<fileID>`, or flat `<fileID>` in older layouts. */
  async payloadLocation(fileID: string): Promise<string | undefined> {
    return (await this.payloadStat(fileID))?.path;
  }

  /** The payload's place and size, from one stat where it sits in the usual layout. */
  async payloadStat(fileID: string): Promise<{ path: string; size: number } | undefined> {
    for (const path of [payloadPath(fileID), fileID]) {
      const stat = await this.source.stat(path);
      if (stat) return { path, size: stat.size };
    }
    return undefined;
  }

  private async fileKey(fileID: string, what: string): Promise<CryptoKey | undefined> {
    if (!this.encrypted) return undefined;
    if (!this.classKeys) throw new BackupLockedError();
    const wrapped = this.manifest.metadata(fileID)?.encryptionKey;
    if (!wrapped) return undefined;
    return unwrapFileKey(this.classKeys, wrapped, what);
  }

  private describe(fileID: string): string {
    const entry = this.manifest.get(fileID);
    return entry ? `${entry.domain}/${entry.relativePath}` : fileID;
  }

  /** A payload, decrypted when needed, as a stream of chunks. */
  async *streamFile(fileID: string, chunkSize?: number): AsyncIterable<Uint8Array> {
    const what = this.describe(fileID);
    const path = await this.payloadLocation(fileID);
    if (!path) throw new MissingBackupFileError(what, `payload ${payloadPath(fileID)}`);
    const key = await this.fileKey(fileID, what);
    const raw = this.source.stream(path, chunkSize);
    yield* key ? decryptStream(key, raw, what) : raw;
  }

  /** A whole payload in memory (for databases, plists, previews). */
  readFile(fileID: string): Promise<Uint8Array> {
    return collectBytes(this.streamFile(fileID));
  }

  async readByPath(domain: string, relativePath: string): Promise<Uint8Array | undefined> {
    const entry = this.manifest.find(domain, relativePath);
    if (!entry || entry.kind !== 'file') return undefined;
    return this.readFile(entry.fileID);
  }

  /**
   * Opens a database stored in the backup. undefined when the backup does not hold it (so a
   * category is simply empty); CorruptBackupError naming the file when it is there but unreadable.
   * Committed transactions still sitting in a `-wal` sibling are applied first (the newest
   * messages and contacts are often only there); a damaged WAL counts up to its last good commit.
   */
  async openDatabase(domain: string, relativePath: string): Promise<Database | undefined> {
    const entry = this.manifest.find(domain, relativePath);
    if (!entry || entry.kind !== 'file') return undefined;
    let bytes = await this.readFile(entry.fileID);
    const wal = this.manifest.find(domain, `${relativePath}-wal`);
    if (wal && wal.kind === 'file') {
      try {
        bytes = applyWal(bytes, await this.readFile(wal.fileID)).bytes;
      } catch (error) {
        // A WAL whose payload is missing or undecryptable: the main file alone is still the database.
        if (!(error instanceof MissingBackupFileError) && !(error instanceof CorruptBackupError)) throw error;
      }
    }
    return openDatabaseBytes(bytes, `${domain}/${relativePath}`);
  }

  /**
   * A database kept open for repeated queries (search as you type, one conversation after another),
   * so it is read, decrypted and WAL-merged once. Callers must not close it; the reader closes
   * the ones it keeps (at most SHARED_DATABASES, least recently used first) and all on close().
   */
  async sharedDatabase(domain: string, relativePath: string): Promise<Database | undefined> {
    const key = `${domain}\0${relativePath}`;
    let opening = this.shared.get(key);
    if (opening) {
      this.shared.delete(key);
    } else {
      opening = this.openDatabase(domain, relativePath);
      opening.catch(() => this.shared.delete(key));
    }
    this.shared.set(key, opening);
    while (this.shared.size > SHARED_DATABASES) {
      const [oldestKey, oldest] = this.shared.entries().next().value!;
      this.shared.delete(oldestKey);
      void oldest.then((db) => db?.close(), () => undefined);
    }
    return opening;
  }

  entry(fileID: string): ManifestEntry | undefined {
    return this.manifest.get(fileID);
  }

  close(): void {
    for (const opening of this.shared.values()) void opening.then((db) => db?.close(), () => undefined);
    this.shared.clear();
    this.manifestDb?.close();
    this.manifestDb = undefined;
    this.classKeys = undefined;
    this.manifestKey = undefined;
  }
}

/** `chunks`, reporting the bytes passed on so far after each. */
async function* counted(chunks: AsyncIterable<Uint8Array>, total: number, report: (done: number, total: number) => void): AsyncGenerator<Uint8Array> {
  let done = 0;
  report(0, total);
  for await (const chunk of chunks) {
    yield chunk;
    done += chunk.byteLength;
    report(done, total);
  }
}
