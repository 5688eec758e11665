/// <reference lib="webworker" />
// The backup library in a worker: SQLite WASM, PBKDF2 and decryption never block the UI thread.
import * as Comlink from 'comlink';
import { LifeboatError } from '../src/core/errors.ts';
import { installErrorTransfer } from '../src/core/comlink-errors.ts';
import { BackupReader } from '../src/library/backup-reader.ts';
import { KeptReader } from '../src/library/kept-reader.ts';
import { OPEN_STAGES, type CategoryData, type LibraryApi, type Progress } from '../src/library/library-api.ts';
import { DirectoryHandleSource, type DirectoryHandleLike } from '../src/library/source/directory-handle-source.ts';
import { ZipSource, type BlobLike } from '../src/library/source/zip-source.ts';
import { SubdirectorySource, type BackupSource } from '../src/library/source/backup-source.ts';
import { findBackups, locateBackup } from '../src/library/source/locate.ts';
import { previewFile } from '../src/library/preview.ts';
import { describeContents, type CategoryId } from '../src/library/categories/overview.ts';
import { readChats, readMessages } from '../src/library/categories/messages.ts';
import { contactToVCard, contactsToVCard, readContacts } from '../src/library/categories/contacts.ts';
import { readPhotoLibrary, readVoiceMemoLibrary } from '../src/library/categories/media-details.ts';
import { readNotes } from '../src/library/categories/notes.ts';
import { readCalls } from '../src/library/categories/calls.ts';
import { readSafariBookmarks, readSafariHistory } from '../src/library/categories/safari.ts';
import { readApps } from '../src/library/categories/apps.ts';
import { verifyBackup } from '../src/library/export/verify.ts';
import { entriesUnder, exportFinderCopy, exportFinderZip, exportTree, exportZip, finderFolderName } from '../src/library/export/exports.ts';
import { DirectoryHandleTarget } from '../src/library/export/directory-handle-target.ts';
import { conversationToHtml } from '../src/library/export/conversation-html.ts';
import { searchContent } from '../src/library/content-search.ts';
import { imageTypeOf, readContactPhotos } from '../src/library/categories/contact-photos.ts';
import { ItemNotFoundError } from '../src/library/errors.ts';
import { StoreTreeSource } from '../src/library/source/store-tree-source.ts';
import { OpfsScratch } from '../src/library/source/scratch-copy.ts';
import type { DirHandleLike } from '../src/stores/handle-backend.ts';
import { OpfsBackupStore, type ReadOnlyOpfsStore } from '../src/stores/opfs-backup-store.ts';
import type { BackupStore } from '../src/stores/backup-store.ts';
import { openStoreBackup } from '../src/stores/open-backup.ts';
import { diffBackups } from '../src/library/diff/backup-diff.ts';
import { toDiffView } from '../src/library/diff/diff-view.ts';
import { BackupLockedError } from '../src/library/errors.ts';

let reader: BackupReader | undefined;
/** The open backup, when it is one of Lifeboat's own (what "What changed" compares among). */
let openedLifeboat: { udid: string; versionId: string | undefined } | undefined;
/** The password the open backup was unlocked with: other versions of it usually share it. */
let unlockedWith: string | undefined;
/** The version the open backup is being compared with. */
let compared: BackupReader | undefined;

function closeCompared(): void {
  compared?.close();
  compared = undefined;
}

function comparedReader(): BackupReader {
  if (!compared) throw new LifeboatError('unsupported', 'No other version is being compared.');
  return compared;
}

function current(): BackupReader {
  if (!reader) throw new LifeboatError('unsupported', 'No backup is open.');
  return reader;
}

/**
 * A big Manifest.db from a zip is read from a copy in OPFS instead of from memory (a picked folder's is read
 * in place through its File; this copy is its fallback where that cannot be had).
 */
const scratch = new OpfsScratch(
  async () => (await navigator.storage.getDirectory()) as unknown as DirHandleLike,
  () => navigator.storage.estimate(),
);
void scratch.sweepLeftovers();

/** A picked folder's backup, as found: where it is, for the open of the same backup that usually follows. */
interface FoundPlace {
  handle: DirectoryHandleLike;
  path: string;
}

const keptReader = new KeptReader<FoundPlace>(async (a, b) => a.path === b.path && (await a.handle.isSameEntry?.(b.handle)) === true);

/** `reuse`: that backup as findBackups read it, unchanged since (see KeptReader). */
async function openFrom(source: BackupSource, path: string | undefined, progress?: Progress, reuse?: FoundPlace) {
  const located = path === undefined ? (await locateBackup(source)).source : new SubdirectorySource(source, path);
  const kept = reuse ? await keptReader.take(reuse, located) : undefined;
  keptReader.clear();
  reader?.close();
  closeCompared();
  openedLifeboat = undefined;
  unlockedWith = undefined;
  reader = kept ?? (await BackupReader.open(located, { scratch, ...(progress ? { onManifestBytes: (done: number, total: number) => progress(done, total, OPEN_STAGES.reading) } : {}) }));
  // The summary's counts come from the index; building it is most of the rest of the wait.
  if (!reader.locked) progress?.(0, 0, OPEN_STAGES.indexing);
  await reader.prepareIndex();
  return reader.summary();
}

let lifeboatStore: Promise<ReadOnlyOpfsStore> | undefined;

/** Lifeboat's own backups, read-only: the device worker is the store's only writer. */
function lifeboat(): Promise<ReadOnlyOpfsStore> {
  lifeboatStore ??= OpfsBackupStore.openReadOnly().catch((error: unknown) => {
    lifeboatStore = undefined;
    throw error;
  });
  return lifeboatStore;
}

async function lifeboatSource(store: BackupStore, udid: string, versionId: string | undefined) {
  const tree = await openStoreBackup(store, udid, versionId, 'this browser’s storage');
  return new StoreTreeSource(tree, versionId === undefined ? `Lifeboat backup of ${udid}` : `Lifeboat backup of ${udid} (earlier)`);
}

async function category<K extends CategoryId>(id: K): Promise<CategoryData[K]> {
  const r = current();
  const readers: { [P in CategoryId]: () => Promise<CategoryData[P]> | CategoryData[P] } = {
    messages: () => readChats(r),
    contacts: () => readContacts(r),
    photos: () => readPhotoLibrary(r),
    notes: () => readNotes(r),
    calls: () => readCalls(r),
    'safari-history': () => readSafariHistory(r),
    'safari-bookmarks': () => readSafariBookmarks(r),
    'voice-memos': () => readVoiceMemoLibrary(r),
    apps: () => readApps(r),
  };
  return readers[id]();
}

const api: LibraryApi = {
  async findBackups(handle: DirectoryHandleLike) {
    keptReader.clear();
    const found = await findBackups(new DirectoryHandleSource(handle));
    const out = [];
    for (const [i, f] of found.entries()) {
      // Its summary counts the files from Manifest.db: one pass over it, read in place (4.4-5.3 s for a 1.19 GB one).
      const r = await BackupReader.open(f.source, { scratch });
      let keep = false;
      try {
        await r.prepareIndex();
        out.push({ path: f.path, summary: r.summary() });
        // The last one found stays open a while: adding a folder is usually followed by opening it.
        keep = i === found.length - 1;
      } finally {
        if (keep) await keptReader.keep({ handle, path: f.path }, f.source, r);
        else r.close();
      }
    }
    return out;
  },
  async findLifeboatBackups() {
    const store = await lifeboat();
    const out = [];
    for (const udid of await store.listDevices()) {
      const r = await BackupReader.open(await lifeboatSource(store, udid, undefined));
      const versions = (await store.listVersions(udid)).map((v) => ({ id: v.id, date: v.date.toISOString() }));
      out.push({ path: udid, summary: r.summary(), versions });
      r.close();
    }
    return out;
  },
  async lifeboatStorage() {
    return (await lifeboat()).footprint();
  },
  async openLifeboat(udid, versionId, progress) {
    const summary = await openFrom(await lifeboatSource(await lifeboat(), udid, versionId), '', progress);
    openedLifeboat = { udid, versionId };
    return summary;
  },
  openDirectory: (handle, path, progress) => openFrom(new DirectoryHandleSource(handle), path, progress, path === undefined ? undefined : { handle, path }),
  async openZip(file, path, progress) {
    const zip = await ZipSource.open(file as BlobLike, (file as File).name ?? 'backup.zip');
    const summary = await openFrom(zip, path, progress);
    // Entries the gate refused (climbing, absolute, clashing names) are not in the backup: say which.
    return zip.refused.length ? { ...summary, problems: [...summary.problems, ...zip.refused.map((r) => r.message)] } : summary;
  },
  async summary() {
    return current().summary();
  },
  async unlock(password, progress) {
    await current().unlock(password, progress ? (done, total) => progress(done, total, OPEN_STAGES.reading) : undefined);
    unlockedWith = password;
    progress?.(0, 0, OPEN_STAGES.indexing);
    await current().prepareIndex();
    return current().summary();
  },
  async domains() {
    return current().manifest.domains();
  },
  async list(domain, path) {
    return current().manifest.list(domain, path);
  },
  async search(query, limit) {
    return current().manifest.search(query, limit);
  },
  async metadata(fileID) {
    return current().metadata(fileID);
  },
  preview: (fileID) => previewFile(current(), fileID),
  readFile: (fileID) => current().readFile(fileID),
  contents: () => describeContents(current()),
  category,
  messages: (chatId) => readMessages(current(), chatId),
  verify: (progress) => verifyBackup(current(), progress),
  async exportFile(fileID, to) {
    for await (const chunk of current().streamFile(fileID)) await to.write(chunk);
    await to.close();
  },
  async exportFolder(domain, path, to, progress) {
    const r = current();
    const { files, bytes, refused } = await exportTree(r, entriesUnder(r, domain, path), new DirectoryHandleTarget(to), { progress });
    return { files, bytes, refused };
  },
  exportFinderCopy: (to, progress) => exportFinderCopy(current(), new DirectoryHandleTarget(to), { progress, folder: finderFolderName(current()) }),
  exportFinderZip: (to, progress) => exportFinderZip(current(), to, { progress, folder: finderFolderName(current()) }),
  async exportZip(domain, path, to, progress) {
    const r = current();
    return exportZip(r, entriesUnder(r, domain, path), to, { progress });
  },
  async contactsVCard() {
    const r = current();
    return contactsToVCard(await readContacts(r), await readContactPhotos(r));
  },
  searchContent: (query, limit) => searchContent(current(), query, limit),
  async contactVCard(contactId) {
    const r = current();
    const contact = (await readContacts(r)).find((c) => c.id === contactId);
    if (!contact) throw new ItemNotFoundError('This contact');
    return contactToVCard(contact, (await readContactPhotos(r, [contactId])).get(contactId));
  },
  async contactPhoto(contactId) {
    const bytes = (await readContactPhotos(current(), [contactId])).get(contactId);
    const type = bytes && imageTypeOf(bytes);
    return bytes && type ? { bytes, mimeType: type.mimeType } : undefined;
  },
  conversationHtml: (chatId) => conversationToHtml(current(), chatId),
  async compareWith(otherVersionId, otherIsOlder) {
    const open = current();
    if (!openedLifeboat) {
      throw new LifeboatError('unsupported', 'Only backups Lifeboat made keep earlier versions to compare with.', {
        action: 'To compare any two backup folders, use the command line: npm run cli -- diff OLD_DIR NEW_DIR.',
      });
    }
    closeCompared();
    const other = await BackupReader.open(await lifeboatSource(await lifeboat(), openedLifeboat.udid, otherVersionId));
    try {
      if (other.locked) {
        if (unlockedWith === undefined) throw new BackupLockedError();
        await other.unlock(unlockedWith);
      }
      const diff = otherIsOlder ? await diffBackups(other, open) : await diffBackups(open, other);
      compared = other;
      return toDiffView(diff, otherIsOlder ? 'compared' : 'open');
    } catch (error) {
      other.close();
      throw error;
    }
  },
  readComparedFile: (fileID) => comparedReader().readFile(fileID),
  async exportComparedFile(fileID, to) {
    for await (const chunk of comparedReader().streamFile(fileID)) await to.write(chunk);
    await to.close();
  },
  async close() {
    reader?.close();
    reader = undefined;
    closeCompared();
    openedLifeboat = undefined;
    unlockedWith = undefined;
  },
};

// Errors keep their code and action across Comlink (the UI switches on code, e.g. 'wrong-password').
installErrorTransfer();

Comlink.expose(api);
