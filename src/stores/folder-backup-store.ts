import { openDB, type IDBPDatabase } from 'idb';
import { StoreError } from './errors.ts';
import { HandleBackend, type DirHandleLike } from './handle-backend.ts';
import { VersionedBackupStore, type VersionedBackupStoreOptions } from './versioned-backup-store.ts';

/**
 * The browser cannot measure free space on a folder the person picked, and the device refuses to
 * start unless the figure exceeds its estimate + 128 MiB. We report this deliberate 1 TiB so the
 * backup starts; if the disk really fills up, writes fail with ENOSPC, the device gets -15 and ends
 * with error 105, which the engine surfaces as InsufficientSpaceError naming the folder.
 */
export const FOLDER_REPORTED_FREE_SPACE = 2 ** 40;

/** A folder handle as far as permissions go (Chromium's FileSystemHandle permission methods). */
interface PermissionedHandle {
  queryPermission?(descriptor: { mode: 'read' | 'readwrite' }): Promise<PermissionState>;
  requestPermission?(descriptor: { mode: 'read' | 'readwrite' }): Promise<PermissionState>;
}

const DB_NAME = 'lifeboat-folders';
const STORE = 'handles';

/** Backups in a folder the person picked (showDirectoryPicker), so they are ordinary files on their disk. */
export class FolderBackupStore extends VersionedBackupStore {
  readonly folderName: string;

  private constructor(root: DirHandleLike, options: VersionedBackupStoreOptions) {
    super('folder', new HandleBackend(root, { freeSpace: async () => FOLDER_REPORTED_FREE_SPACE }), options);
    this.folderName = root.name;
  }

  /**
   * Wraps a picked handle after making sure we may write to it. `requestPermission` needs a user
   * gesture, so call this from a click handler when `interactive` is true.
   */
  static async open(
    handle: DirHandleLike,
    options: VersionedBackupStoreOptions & { interactive?: boolean } = {},
  ): Promise<FolderBackupStore> {
    const h = handle as DirHandleLike & PermissionedHandle;
    if (h.queryPermission) {
      let state = await h.queryPermission({ mode: 'readwrite' });
      if (state !== 'granted' && options.interactive && h.requestPermission) state = await h.requestPermission({ mode: 'readwrite' });
      if (state !== 'granted') {
        throw new StoreError('EACCES', handle.name, 'Lifeboat needs permission to write to this folder; choose it again to grant access');
      }
    }
    return new FolderBackupStore(handle, options);
  }

  /** Remembers the picked folder (handles are structured-cloneable into IndexedDB). */
  static async remember(key: string, handle: DirHandleLike): Promise<void> {
    const db = await openHandleDb();
    try {
      await db.put(STORE, handle, key);
    } finally {
      db.close();
    }
  }

  static async recall(key: string): Promise<DirHandleLike | undefined> {
    const db = await openHandleDb();
    try {
      return (await db.get(STORE, key)) as DirHandleLike | undefined;
    } finally {
      db.close();
    }
  }
}

function openHandleDb(): Promise<IDBPDatabase> {
  return openDB(DB_NAME, 1, {
    upgrade(db) {
      db.createObjectStore(STORE);
    },
  });
}
