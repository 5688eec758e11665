import { openDB, type IDBPDatabase } from 'idb';
import { LifeboatError } from '../../core/errors.ts';
import { canPickFolders, ensurePermission, pickFolder, type DirHandle } from '../library/fs-access.ts';

/**
 * Where "Back up now" writes: the browser's own storage (the default, works everywhere) or a folder
 * the person picked, as ordinary files in Finder's layout. The folder's handle is kept in IndexedDB
 * (handles survive there, not in localStorage) and its write permission is asked again after a reload.
 */
export type Destination = { kind: 'browser' } | { kind: 'folder'; handle: DirHandle };

export const destination = $state<{ current: Destination; loaded: boolean }>({ current: { kind: 'browser' }, loaded: false });

const KEY = 'backup-destination';
let db: Promise<IDBPDatabase> | undefined;

function settings(): Promise<IDBPDatabase> {
  db ??= openDB('lifeboat-settings', 1, {
    upgrade(d) {
      d.createObjectStore('settings');
    },
  });
  return db;
}

export async function loadDestination(): Promise<void> {
  if (destination.loaded) return;
  const saved = (await (await settings()).get('settings', KEY).catch(() => undefined)) as DirHandle | undefined;
  if (saved && canPickFolders()) destination.current = { kind: 'folder', handle: saved };
  destination.loaded = true;
}

/** "Choose folder…": the picker, then remembered for the next backups. */
export async function chooseBackupFolder(): Promise<void> {
  const handle = await pickFolder('readwrite');
  await (await settings()).put('settings', handle, KEY);
  destination.current = { kind: 'folder', handle };
}

export async function useBrowserStorage(): Promise<void> {
  await (await settings()).delete('settings', KEY);
  destination.current = { kind: 'browser' };
}

/** The folder to back up into, with write permission (asked here: this runs inside the click). */
export async function folderForBackup(): Promise<DirHandle | undefined> {
  const current = destination.current;
  if (current.kind !== 'folder') return undefined;
  if (!(await ensurePermission(current.handle, 'readwrite'))) {
    throw new LifeboatError('storage', `Lifeboat needs your permission to write to “${current.handle.name}”.`, {
      action: 'Click “Back up now” again and choose “Allow”, or choose the folder again.',
    });
  }
  return current.handle;
}

/** The picked folder when its permission is already granted (no prompt: safe outside a click). */
export async function grantedBackupFolder(): Promise<DirHandle | undefined> {
  await loadDestination();
  const current = destination.current;
  if (current.kind !== 'folder') return undefined;
  const state = current.handle.queryPermission ? await current.handle.queryPermission({ mode: 'readwrite' }).catch(() => 'denied') : 'granted';
  return state === 'granted' ? current.handle : undefined;
}
