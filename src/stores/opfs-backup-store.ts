import { HandleBackend, type DirHandleLike } from './handle-backend.ts';
import { VersionedBackupStore, type VersionedBackupStoreOptions } from './versioned-backup-store.ts';
import { PackedBackend, type PackedBackendOptions } from './packed/packed-backend.ts';
import { PackedReader } from './packed/packed-reader.ts';
import type { StorageBackend } from './storage-backend.ts';
import { trustedFreeSpace, type BrowserEstimate } from './storage-estimate.ts';
import type { StoreFootprint } from './packed/footprint.ts';

export interface OpfsBackupStoreOptions extends VersionedBackupStoreOptions {
  /** Folder inside the origin's private file system (default "backups"). */
  folder?: string;
  /** Tests pass a directory handle; the app leaves it out and gets navigator.storage.getDirectory(). */
  root?: DirHandleLike;
  /** Tests pass a quota; the app leaves it out and gets navigator.storage.estimate(). */
  estimate?: () => Promise<BrowserEstimate>;
  /** Tests shrink packs and thresholds to exercise rolls, blobs and compaction with little data. */
  packed?: Omit<PackedBackendOptions, 'freeSpace'>;
}

async function folderOf(options: { folder?: string; root?: DirHandleLike }, create: boolean): Promise<DirHandleLike> {
  const origin = options.root ?? ((await navigator.storage.getDirectory()) as unknown as DirHandleLike);
  return origin.getDirectoryHandle(options.folder ?? 'backups', { create });
}

/**
 * Backups in the origin private file system. In a dedicated worker (sync access handles) the
 * folder is a packed store (packed/: a journal plus pack files, the only way to thousands of
 * small files a second in OPFS); elsewhere it is a plain Finder-layout tree via createWritable().
 * Free space = quota − usage from navigator.storage.estimate(): the browser's own limit is the real one.
 */
export class OpfsBackupStore extends VersionedBackupStore {
  private constructor(
    backend: StorageBackend,
    options: VersionedBackupStoreOptions,
    /** The packed backend, when this store uses one (closing it releases its OPFS locks). */
    readonly packed: PackedBackend | null,
  ) {
    super('opfs', backend, options);
  }

  static async open(options: OpfsBackupStoreOptions = {}): Promise<OpfsBackupStore> {
    const root = await folderOf(options, true);
    const estimate: () => Promise<BrowserEstimate> = options.estimate ?? (() => navigator.storage.estimate());
    // The browser's usage can be far off (storage-estimate.ts): never below what the store itself holds.
    let packed: PackedBackend | null = null;
    const freeSpace = async (): Promise<number> => trustedFreeSpace(await estimate(), packed?.storedBytes() ?? 0);
    if (await PackedBackend.supported(root)) {
      packed = await PackedBackend.open(root, { ...options.packed, freeSpace });
      return new OpfsBackupStore(packed, options, packed);
    }
    return new OpfsBackupStore(new HandleBackend(root, { preferSyncAccess: true, freeSpace }), options, null);
  }

  latestBackupBytes(udid: string): number | undefined {
    return this.packed?.bytesUnder(udid);
  }

  /** A write failed (quota, disk): close this instance and open the store again to go on. */
  get failed(): boolean {
    return this.packed?.failed != null;
  }

  /**
   * A second, read-only view of the packed store for another worker (the library) while the device
   * worker writes: listDevices/current/listVersions/openVersion, no writes and no locks. Each of
   * those calls first catches up with the writer's journal; trees read one consistent moment.
   */
  static async openReadOnly(options: Pick<OpfsBackupStoreOptions, 'folder' | 'root'> = {}): Promise<ReadOnlyOpfsStore> {
    const reader = await PackedReader.open(await folderOf(options, true));
    return new ReadOnlyOpfsStore(reader);
  }

  /** Releases the packed store's sync access handles (another writer can then open it). */
  async close(): Promise<void> {
    await this.packed?.close();
  }
}

/** The library's view of the store: read-only, plus what Lifeboat holds (the Library's storage card). */
export class ReadOnlyOpfsStore extends VersionedBackupStore {
  constructor(private readonly reader: PackedReader) {
    super('opfs', reader, { readOnly: reader });
  }

  footprint(): Promise<StoreFootprint> {
    return this.reader.footprint();
  }
}
