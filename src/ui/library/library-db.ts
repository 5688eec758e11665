import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { BackupSummary } from '../../library/library-api.ts';
import type { DirHandle } from './fs-access.ts';

/**
 * Where a backup lives:
 * - lifeboat: made by Lifeboat, in OPFS `backups/` (found by scanning it; the store's own layout);
 * - folder: a Finder/iTunes folder on this computer, read in place through a saved handle;
 * - copy: a folder copied into OPFS `library/<id>/`;
 * - zip: a .zip kept in IndexedDB as a Blob.
 */
export type EntryKind = 'lifeboat' | 'folder' | 'copy' | 'zip';

export interface LibraryEntry {
  id: string;
  kind: EntryKind;
  /** The folder's or zip's own name. */
  label: string;
  /** Path of the backup inside `handle`/OPFS folder/zip ("" when it is the backup itself). */
  path: string;
  handle?: DirHandle;
  opfsPath?: string[];
  zip?: File;
  summary: BackupSummary;
  addedAt: string;
  /** Bytes the backup takes on disk, when known (copies). */
  bytesOnDisk?: number;
  /** Lifeboat backups: earlier backups of the device kept beside the latest, newest first. */
  versions?: { id: string; date: string }[];
  /** Set on the opened entry when the person opened one of `versions` instead of the latest. */
  versionId?: string;
}

interface LibrarySchema extends DBSchema {
  backups: { key: string; value: LibraryEntry };
}

let db: Promise<IDBPDatabase<LibrarySchema>> | undefined;

function database(): Promise<IDBPDatabase<LibrarySchema>> {
  db ??= openDB<LibrarySchema>('lifeboat-library', 1, {
    upgrade(d) {
      d.createObjectStore('backups', { keyPath: 'id' });
    },
  });
  return db;
}

export async function loadEntries(): Promise<LibraryEntry[]> {
  return (await database()).getAll('backups');
}

export async function saveEntry(entry: LibraryEntry): Promise<void> {
  await (await database()).put('backups', entry);
}

export async function deleteEntry(id: string): Promise<void> {
  await (await database()).delete('backups', id);
}
