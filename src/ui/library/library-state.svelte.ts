import type { BackupSummary, Progress, VerifyReport } from '../../library/library-api.ts';
import { deleteEntry, loadEntries, saveEntry, type LibraryEntry } from './library-db.ts';
import { asReadable, ensurePermission, isAbort, opfsDirectory, pickFolder, subdirectory, type DirHandle } from './fs-access.ts';
import { copyTree } from './opfs-copy.ts';
import { Comlink, libraryWorker, toUiError, UiFailure, type UiError } from './library-worker.ts';
import { deviceWorker } from '../device/device-session.svelte.ts';
import { trustedUsage, type TrustedUsage } from '../../stores/storage-estimate.ts';
import type { StoreFootprint } from '../../stores/packed/footprint.ts';

/** The OPFS folder the backup engine writes (src/stores: OpfsBackupStore, default folder "backups"). */
export const LIFEBOAT_BACKUPS = ['backups'];
/** Where "copy into the browser" puts imported folders. */
export const COPIES = ['library'];

export interface Task {
  label: string;
  done: number;
  total: number;
  unit: 'bytes' | 'files';
  entryId?: string;
}

export interface StorageInfo {
  usage: number;
  quota: number;
  persisted: boolean;
  /** What Lifeboat's own store holds (its catalogue), undefined when it could not be read. */
  lifeboat?: StoreFootprint;
  /** The browser's usage checked against the store (storage-estimate.ts). */
  trusted: TrustedUsage;
}

class LibraryState {
  entries = $state.raw<LibraryEntry[]>([]);
  loaded = $state(false);
  task = $state.raw<Task | undefined>();
  error = $state.raw<UiError | undefined>();
  notice = $state<string | undefined>();
  storage = $state.raw<StorageInfo | undefined>();
  verifyReports = $state.raw<Record<string, VerifyReport>>({});
  /** The backup being looked at; the list shows when undefined. */
  opened = $state.raw<LibraryEntry | undefined>();
}

export const library = new LibraryState();

function sortEntries(list: LibraryEntry[]): LibraryEntry[] {
  return [...list].sort((a, b) => (b.summary.date ?? b.addedAt).localeCompare(a.summary.date ?? a.addedAt));
}

async function put(entry: LibraryEntry): Promise<void> {
  await saveEntry(entry);
  library.entries = sortEntries([...library.entries.filter((e) => e.id !== entry.id), entry]);
}

/** Runs one user action: shows its error (if any) without taking the rest of the library down. */
async function run(action: () => Promise<void>): Promise<void> {
  library.error = undefined;
  library.notice = undefined;
  try {
    await action();
  } catch (error) {
    if (!isAbort(error)) library.error = toUiError(error);
  } finally {
    library.task = undefined;
  }
}

export async function refreshStorage(): Promise<void> {
  if (!navigator.storage?.estimate) return;
  const estimate = await navigator.storage.estimate();
  const { usage = 0, quota = 0 } = estimate;
  const persisted = (await navigator.storage.persisted?.()) ?? false;
  const lifeboat = await libraryWorker()
    .lifeboatStorage()
    .catch(() => undefined);
  library.storage = { usage, quota, persisted, lifeboat, trusted: trustedUsage(estimate, lifeboat?.onDisk ?? 0) };
}

export function keepBackups(): Promise<void> {
  return run(async () => {
    const granted = (await navigator.storage.persist?.()) ?? false;
    library.notice = granted
      ? 'This browser will keep your backups even when it runs low on space.'
      : 'The browser did not agree to keep storage yet. Installing Lifeboat as an app, or using it more often, usually lets it.';
    await refreshStorage();
  });
}

/** Loads the saved list, then looks for backups Lifeboat made in OPFS (added or gone since). */
export async function loadLibrary(): Promise<void> {
  await run(async () => {
    library.entries = sortEntries(await loadEntries());
    await scanLifeboatBackups();
  });
  library.loaded = true;
  await refreshStorage().catch(() => undefined);
}

async function scanLifeboatBackups(): Promise<void> {
  // The store's own packed layout: read through the library worker's read-only view of it.
  const found = await libraryWorker().findLifeboatBackups();
  const ids = new Set<string>();
  for (const f of found) {
    const id = `lifeboat:${f.path}`;
    ids.add(id);
    const existing = library.entries.find((e) => e.id === id);
    await put({
      id,
      kind: 'lifeboat',
      label: 'Lifeboat backups',
      path: f.path,
      opfsPath: LIFEBOAT_BACKUPS,
      summary: mergeSummary(existing?.summary, f.summary),
      versions: f.versions,
      addedAt: existing?.addedAt ?? new Date().toISOString(),
    });
  }
  for (const e of library.entries.filter((e) => e.kind === 'lifeboat' && !ids.has(e.id))) {
    await deleteEntry(e.id);
    library.entries = library.entries.filter((x) => x.id !== e.id);
  }
}

/** A locked summary has no counts; keep the ones learnt when it was last unlocked. */
function mergeSummary(old: BackupSummary | undefined, fresh: BackupSummary): BackupSummary {
  if (!old || fresh.fileCount !== undefined || old.date !== fresh.date) return fresh;
  return { ...fresh, fileCount: old.fileCount, totalSize: old.totalSize };
}

function newId(): string {
  return crypto.randomUUID();
}

/** "Import a backup folder": read in place; the handle is saved so it reopens after a reload. */
export function importFolder(): Promise<void> {
  return run(async () => addFolderBackups(await pickFolder('read')));
}

/** Adds (or refreshes) the backups in a folder, read in place: an import, or where "Back up now" wrote. */
export async function addFolderBackups(handle: DirHandle, options: { quiet?: boolean } = {}): Promise<void> {
  if (!options.quiet) library.task = { label: `Looking for backups in “${handle.name}”…`, done: 0, total: 0, unit: 'files' };
  // The same folder again refreshes its entries: compare with the saved list even before the Library was opened.
  if (!library.loaded) library.entries = sortEntries(await loadEntries());
  const found = await libraryWorker().findBackups(asReadable(handle));
  if (found.length === 0) throw noBackupIn(handle.name);
  for (const f of found) {
    const existing = await findSameFolder(handle, f.path);
    await put({
      id: existing?.id ?? newId(),
      kind: 'folder',
      label: handle.name,
      path: f.path,
      handle,
      summary: mergeSummary(existing?.summary, f.summary),
      addedAt: existing?.addedAt ?? new Date().toISOString(),
    });
  }
  if (!options.quiet) library.notice = found.length === 1 ? 'Backup added.' : `${found.length} backups added.`;
}

async function findSameFolder(handle: DirHandle, path: string): Promise<LibraryEntry | undefined> {
  for (const e of library.entries) {
    if (e.kind === 'folder' && e.path === path && e.handle && (await e.handle.isSameEntry(handle))) return e;
  }
  return undefined;
}

function noBackupIn(name: string): UiFailure {
  return new UiFailure(
    'corrupt-backup',
    `No backup found in “${name}”.`,
    'Pick a backup folder (it holds Manifest.db and Info.plist), or the “Backup” folder that holds several.',
  );
}

/** "Copy into this browser": the folder is copied into OPFS, so it stays even if the original goes. */
export function copyFolderIntoBrowser(): Promise<void> {
  return run(async () => {
    const handle = await pickFolder('read');
    const found = await libraryWorker().findBackups(asReadable(handle));
    if (found.length === 0) throw noBackupIn(handle.name);
    const refused: string[] = [];
    for (const f of found) {
      const id = newId();
      const target = (await opfsDirectory([...COPIES, id], true))!;
      const name = f.summary.deviceName ?? handle.name;
      library.task = { label: `Copying “${name}” into this browser…`, done: 0, total: 0, unit: 'bytes' };
      let bytes: number;
      try {
        bytes = await copyTree(
          await subdirectory(handle, f.path),
          target,
          (done, total) => {
            library.task = { label: `Copying “${name}” into this browser…`, done, total, unit: 'bytes' };
          },
          (refusal) => refused.push(refusal.message),
        );
      } catch (error) {
        await removeOpfs([...COPIES], id);
        throw error;
      }
      await put({
        id,
        kind: 'copy',
        label: handle.name,
        path: '',
        opfsPath: [...COPIES, id],
        summary: f.summary,
        addedAt: new Date().toISOString(),
        bytesOnDisk: bytes,
      });
    }
    library.notice = refused.length ? `Copied into this browser; ${refused.length} refused: ${refused.join(' ')}` : 'Copied into this browser.';
    await refreshStorage();
  });
}

/** A .zip of a backup folder; the File is kept in IndexedDB so it is there after a reload. */
export function importZip(file: File): Promise<void> {
  return run(async () => {
    library.task = { label: `Reading “${file.name}”…`, done: 0, total: 0, unit: 'files' };
    const summary = await libraryWorker().openZip(file);
    await libraryWorker().close();
    await put({
      id: newId(),
      kind: 'zip',
      label: file.name,
      path: '',
      zip: file,
      summary,
      addedAt: new Date().toISOString(),
      bytesOnDisk: file.size,
    });
    library.notice = 'Backup added.';
    await refreshStorage();
  });
}

async function removeOpfs(parent: string[], name: string): Promise<void> {
  const dir = await opfsDirectory(parent);
  await dir?.removeEntry(name, { recursive: true }).catch((error: { name?: string }) => {
    if (error.name !== 'NotFoundError') throw error;
  });
}

/** Deletes what Lifeboat holds (OPFS copies, Lifeboat backups) or forgets an imported folder/zip. */
export function removeEntry(entry: LibraryEntry): Promise<void> {
  return run(async () => {
    // The Library may still read its Manifest.db in place, through a handle that keeps the file from
    // being deleted: let it go first.
    if ((entry.kind === 'copy' || entry.kind === 'lifeboat') && (!library.opened || library.opened.id === entry.id)) await libraryWorker().close();
    if (entry.kind === 'copy') await removeOpfs(COPIES, entry.id);
    // The device worker owns the store (it may be writing a backup): it deletes.
    if (entry.kind === 'lifeboat') await deviceWorker().deleteBackup(entry.path);
    await deleteEntry(entry.id);
    library.entries = library.entries.filter((e) => e.id !== entry.id);
    await refreshStorage();
  });
}

/**
 * Opens the entry in the library worker (asks again for folder access after a reload). `progress`
 * hears how far the worker is (see LibraryApi.openLifeboat).
 */
export async function openInWorker(entry: LibraryEntry, progress?: Progress): Promise<BackupSummary> {
  const api = libraryWorker();
  const report = progress ? Comlink.proxy(progress) : undefined;
  if (entry.kind === 'zip') {
    if (!entry.zip) throw new Error('The zip file is no longer stored. Import it again.');
    // "" means "find it": a zip usually holds the backup one or two folders down.
    return api.openZip(entry.zip, entry.path || undefined, report);
  }
  if (entry.kind === 'lifeboat') return api.openLifeboat(entry.path, entry.versionId, report);
  let handle: DirHandle | undefined;
  if (entry.kind === 'folder') {
    handle = entry.handle;
    if (!handle || !(await ensurePermission(handle, 'read'))) {
      throw new UiFailure(
        'storage',
        `Lifeboat needs your permission to read “${entry.label}” again.`,
        'Open it again and choose “Allow” — or import the folder again.',
      );
    }
  } else {
    handle = await opfsDirectory(entry.opfsPath ?? []);
    if (!handle) throw new UiFailure('corrupt-backup', 'This backup is no longer in the browser’s storage.');
  }
  return api.openDirectory(asReadable(handle), entry.path, report);
}

/** Remembers what an unlocked backup revealed (file count, size) for the list. */
export async function updateSummary(entry: LibraryEntry, summary: BackupSummary): Promise<LibraryEntry> {
  const updated = { ...entry, summary: { ...summary, locked: summary.encrypted } };
  await put(updated);
  return updated;
}

export function verifyEntry(entry: LibraryEntry): Promise<void> {
  return run(async () => {
    library.task = { label: 'Verifying…', done: 0, total: 0, unit: 'files', entryId: entry.id };
    const summary = await openInWorker(entry);
    if (summary.locked) throw new UiFailure('wrong-password', 'Open this encrypted backup with its password to verify it.');
    const report = await runVerify(entry.id);
    library.verifyReports = { ...library.verifyReports, [entry.id]: report };
  });
}

/** Verifies the backup open in the worker, with the list's progress bar. */
export async function runVerify(entryId: string): Promise<VerifyReport> {
  // Progress calls come over their own MessagePort, so one can land after the result: ignore it then.
  let live = true;
  try {
    return await libraryWorker().verify(
      Comlink.proxy((done: number, total: number) => {
        if (live) library.task = { label: 'Verifying…', done, total, unit: 'files', entryId };
      }),
    );
  } finally {
    live = false;
    library.task = undefined;
  }
}

export function openEntry(entry: LibraryEntry, versionId?: string): void {
  library.error = undefined;
  library.notice = undefined;
  const { versionId: _latest, ...latest } = entry;
  library.opened = versionId ? { ...latest, versionId } : latest;
}

export function closeEntry(): void {
  library.opened = undefined;
  void libraryWorker().close();
}
