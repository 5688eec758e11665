/**
 * The backup library as the UI sees it, across a Comlink boundary (workers/library.worker.ts).
 * Every value here is structured-clonable; long operations take a progress callback, which the
 * UI passes wrapped in Comlink.proxy().
 */
import type { BackupSummary, FileMetadata } from './backup-reader.ts';
import type { DomainSummary, ManifestEntry } from './manifest-db.ts';
import type { Preview } from './preview.ts';
import type { StoreFootprint } from '../stores/packed/footprint.ts';
import type { BackupContents, CategoryId } from './categories/overview.ts';
import type { Chat, Message } from './categories/messages.ts';
import type { Contact } from './categories/contacts.ts';
import type { MediaItem } from './categories/media.ts';
import type { PhotoItem, VoiceMemoItem } from './categories/media-details.ts';
import type { Note } from './categories/notes.ts';
import type { CallRecord } from './categories/calls.ts';
import type { Bookmark, HistoryVisit } from './categories/safari.ts';
import type { AppInfo } from './categories/apps.ts';
import type { VerifyReport } from './export/verify.ts';
import type { DirectoryHandleLike } from './source/directory-handle-source.ts';
import type { WritableDirectoryHandleLike } from './export/directory-handle-target.ts';
import type { Progress } from './export/byte-sink.ts';
import type { FinderCopyResult } from './export/exports.ts';
import type { Refusal } from '../core/confined-path.ts';
import type { ContactHit, ContentSearchResults, ConversationHit, MessageHit } from './content-search.ts';
import type { DiffView } from './diff/diff-view.ts';

export type {
  BackupSummary,
  FileMetadata,
  DomainSummary,
  ManifestEntry,
  Preview,
  BackupContents,
  CategoryId,
  Chat,
  Message,
  Contact,
  MediaItem,
  PhotoItem,
  VoiceMemoItem,
  Note,
  CallRecord,
  Bookmark,
  HistoryVisit,
  AppInfo,
  VerifyReport,
  Progress,
  FinderCopyResult,
  Refusal,
  ContactHit,
  ContentSearchResults,
  ConversationHit,
  MessageHit,
  DiffView,
};

/** What an open reports as `current` while it reads Manifest.db, then while it indexes it. */
export const OPEN_STAGES = { reading: 'Reading the file list', indexing: 'Indexing the files' } as const;

/** One backup found in what the person picked (a MobileSync Backup folder can hold several). */
export interface FoundBackup {
  path: string;
  summary: BackupSummary;
}

/** A backup Lifeboat made in this browser (the OPFS store): `path` is the device's UDID. */
export interface LifeboatBackup extends FoundBackup {
  /** Earlier backups of the same device kept beside the latest, newest first. */
  versions: { id: string; date: string }[];
}

export interface CategoryData {
  messages: Chat[];
  contacts: Contact[];
  photos: PhotoItem[];
  notes: Note[];
  calls: CallRecord[];
  'safari-history': HistoryVisit[];
  'safari-bookmarks': Bookmark[];
  'voice-memos': VoiceMemoItem[];
  apps: AppInfo[];
}

/** A writable file: what showSaveFilePicker()/OPFS give (FileSystemWritableFileStream fits). */
export interface WritableFileLike {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface LibraryApi {
  /** Lists the backups in a picked folder (or OPFS directory) without opening them fully. */
  findBackups(handle: DirectoryHandleLike): Promise<FoundBackup[]>;
  /** Backups in Lifeboat's own store, read without locks while the device worker may be writing a new one. */
  findLifeboatBackups(): Promise<LifeboatBackup[]>;
  /** What Lifeboat's own store holds, per device and earlier version, from its catalogue. */
  lifeboatStorage(): Promise<StoreFootprint>;
  /**
   * Opens one of them: the latest, or an earlier version (`versionId` from LifeboatBackup.versions).
   * `progress` (all three opens): bytes of Manifest.db read, with OPEN_STAGES.reading as `current`,
   * then (0, 0, OPEN_STAGES.indexing) while its folders are indexed.
   */
  openLifeboat(udid: string, versionId?: string, progress?: Progress): Promise<BackupSummary>;
  /** Opens a backup folder (or the one at `path` inside it). Returns its summary; encrypted ones start locked. */
  openDirectory(handle: DirectoryHandleLike, path?: string, progress?: Progress): Promise<BackupSummary>;
  /** Opens a backup inside a .zip File. */
  openZip(file: Blob, path?: string, progress?: Progress): Promise<BackupSummary>;
  summary(): Promise<BackupSummary>;
  /**
   * WrongPasswordError (code "wrong-password") when it does not fit. `progress` as for the opens:
   * Manifest.db's bytes decrypted (OPEN_STAGES.reading), then its indexing.
   */
  unlock(password: string, progress?: Progress): Promise<BackupSummary>;
  domains(): Promise<DomainSummary[]>;
  list(domain: string, path: string): Promise<ManifestEntry[]>;
  search(query: string, limit?: number): Promise<ManifestEntry[]>;
  metadata(fileID: string): Promise<FileMetadata | undefined>;
  preview(fileID: string): Promise<Preview>;
  /** A whole file, decrypted (for small files; use exportFile for large ones). */
  readFile(fileID: string): Promise<Uint8Array>;
  contents(): Promise<BackupContents>;
  category<K extends CategoryId>(id: K): Promise<CategoryData[K]>;
  messages(chatId: number): Promise<Message[]>;
  verify(progress?: Progress): Promise<VerifyReport>;
  exportFile(fileID: string, to: WritableFileLike): Promise<void>;
  /** Decrypted files under domain/path ("" domain = everything) into a picked folder. */
  exportFolder(domain: string, path: string, to: WritableDirectoryHandleLike, progress?: Progress): Promise<{ files: number; bytes: number; refused: Refusal[] }>;
  /** A raw, Finder/iTunes-restorable copy of the backup folder, into `<UDID>/` inside `to`. */
  exportFinderCopy(to: WritableDirectoryHandleLike, progress?: Progress): Promise<FinderCopyResult>;
  /** The same raw copy as a streamed zip holding `<UDID>/…` (encrypted backups stay encrypted). */
  exportFinderZip(to: WritableFileLike, progress?: Progress): Promise<FinderCopyResult>;
  exportZip(domain: string, path: string, to: WritableFileLike, progress?: Progress): Promise<{ files: number; refused: Refusal[] }>;
  contactsVCard(): Promise<string>;
  /** Search inside the backup's data: message text, conversations by handle/name, contacts by name/org/phone/email. */
  searchContent(query: string, limit?: number): Promise<ContentSearchResults>;
  /** One contact's vCard 3.0 (with its picture when the backup has one). */
  contactVCard(contactId: number): Promise<string>;
  /** A contact's picture, for showing it; undefined when there is none. */
  contactPhoto(contactId: number): Promise<{ bytes: Uint8Array; mimeType: string } | undefined>;
  conversationHtml(chatId: number): Promise<string>;
  /**
   * "What changed": the open Lifeboat backup against another version of the same device's backup
   * (`otherVersionId` undefined = the latest), which stays open beside it for the two calls below.
   * An encrypted one is unlocked with the password the open backup was unlocked with.
   */
  compareWith(otherVersionId: string | undefined, otherIsOlder: boolean): Promise<DiffView>;
  /** A file of the version compared with (e.g. a removed photo, for its picture). */
  readComparedFile(fileID: string): Promise<Uint8Array>;
  /** Exports a file of the version compared with (what the open backup no longer holds). */
  exportComparedFile(fileID: string, to: WritableFileLike): Promise<void>;
  close(): Promise<void>;
}
