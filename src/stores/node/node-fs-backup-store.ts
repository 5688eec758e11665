import { promises as fs } from 'node:fs';
import { VersionedBackupStore, type VersionedBackupStoreOptions } from '../versioned-backup-store.ts';
import { NodeFsBackend } from './node-fs-backend.ts';

/** Backups under a directory on disk: `<root>/<UDID>/` is a Finder-layout backup other tools can read. */
export class NodeFsBackupStore extends VersionedBackupStore {
  readonly root: string;

  private constructor(backend: NodeFsBackend, options: VersionedBackupStoreOptions) {
    super('node-fs', backend, options);
    this.root = backend.root;
  }

  static async open(root: string, options: VersionedBackupStoreOptions = {}): Promise<NodeFsBackupStore> {
    await fs.mkdir(root, { recursive: true });
    return new NodeFsBackupStore(new NodeFsBackend(root), options);
  }
}
