import { HandleBackend, type DirHandleLike } from './handle-backend.ts';
import { VersionedBackupStore, type VersionedBackupStoreOptions } from './versioned-backup-store.ts';

export interface OpfsBackupStoreOptions extends VersionedBackupStoreOptions {
  /** Folder inside the origin's private file system (default "backups"). */
  folder?: string;
  /** Tests pass a directory handle; the app leaves it out and gets navigator.storage.getDirectory(). */
  root?: DirHandleLike;
  /** Tests pass a quota; the app leaves it out and gets navigator.storage.estimate(). */
  estimate?: () => Promise<{ quota?: number; usage?: number }>;
}

/**
 * Backups in the origin private file system. In a dedicated worker files are written through
 * createSyncAccessHandle() (the fast path); elsewhere through createWritable().
 * Free space = quota − usage from navigator.storage.estimate(): the browser's own limit is the real one.
 */
export class OpfsBackupStore extends VersionedBackupStore {
  private constructor(backend: HandleBackend, options: VersionedBackupStoreOptions) {
    super('opfs', backend, options);
  }

  static async open(options: OpfsBackupStoreOptions = {}): Promise<OpfsBackupStore> {
    const origin = options.root ?? ((await navigator.storage.getDirectory()) as unknown as DirHandleLike);
    const root = await origin.getDirectoryHandle(options.folder ?? 'backups', { create: true });
    const estimate = options.estimate ?? (() => navigator.storage.estimate());
    const backend = new HandleBackend(root, {
      preferSyncAccess: true,
      freeSpace: async () => {
        const { quota = 0, usage = 0 } = await estimate();
        return Math.max(0, quota - usage);
      },
    });
    return new OpfsBackupStore(backend, options);
  }
}
