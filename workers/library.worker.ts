/// <reference lib="webworker" />
// The backup library in a worker: SQLite WASM, PBKDF2 and decryption never block the UI thread.
import * as Comlink from 'comlink';
import { LifeboatError } from '../src/core/errors.ts';
import { installErrorTransfer } from '../src/core/comlink-errors.ts';
import { BackupReader } from '../src/library/backup-reader.ts';
import type { CategoryData, LibraryApi } from '../src/library/library-api.ts';
import { DirectoryHandleSource, type DirectoryHandleLike } from '../src/library/source/directory-handle-source.ts';
import { ZipSource, type BlobLike } from '../src/library/source/zip-source.ts';
import { SubdirectorySource, type BackupSource } from '../src/library/source/backup-source.ts';
import { findBackups, locateBackup } from '../src/library/source/locate.ts';
import { previewFile } from '../src/library/preview.ts';
import { describeContents, type CategoryId } from '../src/library/categories/overview.ts';
import { readChats, readMessages } from '../src/library/categories/messages.ts';
import { contactsToVCard, readContacts } from '../src/library/categories/contacts.ts';
import { readPhotos, readVoiceMemos } from '../src/library/categories/media.ts';
import { readNotes } from '../src/library/categories/notes.ts';
import { readCalls } from '../src/library/categories/calls.ts';
import { readSafariBookmarks, readSafariHistory } from '../src/library/categories/safari.ts';
import { readApps } from '../src/library/categories/apps.ts';
import { verifyBackup } from '../src/library/export/verify.ts';
import { entriesUnder, exportFinderCopy, exportTree, exportZip } from '../src/library/export/exports.ts';
import { DirectoryHandleTarget } from '../src/library/export/directory-handle-target.ts';
import { conversationToHtml } from '../src/library/export/conversation-html.ts';

let reader: BackupReader | undefined;

function current(): BackupReader {
  if (!reader) throw new LifeboatError('unsupported', 'No backup is open.');
  return reader;
}

async function openFrom(source: BackupSource, path: string | undefined) {
  const located = path === undefined ? (await locateBackup(source)).source : new SubdirectorySource(source, path);
  reader?.close();
  reader = await BackupReader.open(located);
  return reader.summary();
}

async function category<K extends CategoryId>(id: K): Promise<CategoryData[K]> {
  const r = current();
  const readers: { [P in CategoryId]: () => Promise<CategoryData[P]> | CategoryData[P] } = {
    messages: () => readChats(r),
    contacts: () => readContacts(r),
    photos: () => readPhotos(r),
    notes: () => readNotes(r),
    calls: () => readCalls(r),
    'safari-history': () => readSafariHistory(r),
    'safari-bookmarks': () => readSafariBookmarks(r),
    'voice-memos': () => readVoiceMemos(r),
    apps: () => readApps(r),
  };
  return readers[id]();
}

const api: LibraryApi = {
  async findBackups(handle: DirectoryHandleLike) {
    const found = await findBackups(new DirectoryHandleSource(handle));
    const out = [];
    for (const f of found) {
      const r = await BackupReader.open(f.source);
      out.push({ path: f.path, summary: r.summary() });
      r.close();
    }
    return out;
  },
  openDirectory: (handle, path) => openFrom(new DirectoryHandleSource(handle), path),
  openZip: async (file, path) => openFrom(await ZipSource.open(file as BlobLike, (file as File).name ?? 'backup.zip'), path),
  async summary() {
    return current().summary();
  },
  async unlock(password) {
    await current().unlock(password);
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
    const { files, bytes } = await exportTree(r, entriesUnder(r, domain, path), new DirectoryHandleTarget(to), { progress });
    return { files, bytes };
  },
  exportFinderCopy: (to, progress) => exportFinderCopy(current(), new DirectoryHandleTarget(to), { progress }),
  async exportZip(domain, path, to, progress) {
    const r = current();
    await exportZip(r, entriesUnder(r, domain, path), to, { progress });
  },
  async contactsVCard() {
    return contactsToVCard(await readContacts(current()));
  },
  conversationHtml: (chatId) => conversationToHtml(current(), chatId),
  async close() {
    reader?.close();
    reader = undefined;
  },
};

// Errors keep their code and action across Comlink (the UI switches on code, e.g. 'wrong-password').
installErrorTransfer();

Comlink.expose(api);
