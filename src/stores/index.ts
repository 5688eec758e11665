/** Browser-safe store exports. Node's NodeFsBackupStore lives in ./node/ so bundles never import node:fs. */
export type { BackupStore, BackupSession, BackupTree, BackupVersion } from './backup-store.ts';
export type { StorageBackend, FileSink, EntryStat, DirectoryEntry, EntryKind } from './storage-backend.ts';
export { StoreError, type StoreErrno } from './errors.ts';
export { VersionedBackupStore, META_DIR, type VersionedBackupStoreOptions } from './versioned-backup-store.ts';
export { HandleBackend, type DirHandleLike, type FileHandleLike } from './handle-backend.ts';
export { OpfsBackupStore, type OpfsBackupStoreOptions } from './opfs-backup-store.ts';
export { FolderBackupStore, FOLDER_REPORTED_FREE_SPACE } from './folder-backup-store.ts';
export { openStoreBackup } from './open-backup.ts';
