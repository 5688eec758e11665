import type { BackupReader } from '../backup-reader.ts';
import { readApps } from '../categories/apps.ts';
import { readCalls, type CallRecord } from '../categories/calls.ts';
import { readContacts, type Contact } from '../categories/contacts.ts';
import { readPhotoLibrary, type PhotoItem } from '../categories/media-details.ts';
import { readChats } from '../categories/messages.ts';
import { readNotes, type Note } from '../categories/notes.ts';
import { readSafariBookmarks, readSafariHistory, type Bookmark, type HistoryVisit } from '../categories/safari.ts';

/** Added / removed / changed items of one kind, each side as the backup that holds it shows it. */
export interface ItemChanges<T> {
  added: T[];
  removed: T[];
  changed: { before: T; after: T }[];
}

export interface ConversationChange {
  identifier: string;
  displayName: string | undefined;
  participants: string[];
  /** The conversation's ROWID in the later backup (undefined when it was deleted). */
  newChatId: number | undefined;
  oldChatId: number | undefined;
  before: number;
  after: number;
}

export interface AppChange {
  bundleId: string;
  oldVersion: string | undefined;
  newVersion: string | undefined;
  oldDataSize: number;
  newDataSize: number;
}

/** What changed inside the data people care about, read from the two backups' own databases. */
export interface ContentDiff {
  photos: ItemChanges<PhotoItem>;
  /** Conversations whose message count changed, plus new and deleted ones. */
  conversations: ConversationChange[];
  contacts: ItemChanges<Contact>;
  notes: ItemChanges<Note>;
  calls: ItemChanges<CallRecord>;
  safariHistory: ItemChanges<HistoryVisit>;
  safariBookmarks: ItemChanges<Bookmark>;
  apps: { installed: AppChange[]; removed: AppChange[]; updated: AppChange[] };
  /** Categories that could not be read in one of the backups, with why; the rest still stands. */
  problems: string[];
}

/** Matches items of the two sides by `keyOf`; `same` says whether a matched pair is unchanged. */
export function compareItems<T>(before: T[], after: T[], keyOf: (item: T) => string, same: (a: T, b: T) => boolean = () => true): ItemChanges<T> {
  const old = new Map<string, T>();
  for (const item of before) old.set(keyOf(item), item);
  const out: ItemChanges<T> = { added: [], removed: [], changed: [] };
  const seen = new Set<string>();
  for (const item of after) {
    const key = keyOf(item);
    seen.add(key);
    const previous = old.get(key);
    if (previous === undefined) out.added.push(item);
    else if (!same(previous, item)) out.changed.push({ before: previous, after: item });
  }
  for (const [key, item] of old) if (!seen.has(key)) out.removed.push(item);
  return out;
}

/** AddressBook keeps a person's ROWID for life, so it matches a contact across backups even after a rename. */
function contactKey(c: Contact): string {
  return String(c.id);
}

function contactBody(c: Contact): string {
  const { id: _id, ...rest } = c;
  return JSON.stringify(rest);
}

async function attempt<T>(problems: string[], label: string, empty: T, run: () => Promise<T> | T): Promise<T> {
  try {
    return await run();
  } catch (error) {
    problems.push(`${label}: ${(error as Error).message}`);
    return empty;
  }
}

function conversations(before: Awaited<ReturnType<typeof readChats>>, after: Awaited<ReturnType<typeof readChats>>): ConversationChange[] {
  const key = (c: { identifier: string; service: string | undefined; id: number }) => `${c.service ?? ''}\u0000${c.identifier || `#${c.id}`}`;
  const old = new Map(before.map((c) => [key(c), c]));
  const out: ConversationChange[] = [];
  const seen = new Set<string>();
  for (const c of after) {
    const k = key(c);
    seen.add(k);
    const o = old.get(k);
    if (o && o.messageCount === c.messageCount) continue;
    out.push({ identifier: c.identifier, displayName: c.displayName, participants: c.participantNames, newChatId: c.id, oldChatId: o?.id, before: o?.messageCount ?? 0, after: c.messageCount });
  }
  for (const [k, o] of old) {
    if (!seen.has(k)) out.push({ identifier: o.identifier, displayName: o.displayName, participants: o.participantNames, newChatId: undefined, oldChatId: o.id, before: o.messageCount, after: 0 });
  }
  return out.sort((a, b) => b.after - b.before - (a.after - a.before));
}

export async function diffContents(older: BackupReader, newer: BackupReader): Promise<ContentDiff> {
  const problems: string[] = [];
  const both = async <T>(label: string, read: (r: BackupReader) => Promise<T[]> | T[]): Promise<[T[], T[]]> => [
    await attempt(problems, `${label} (earlier backup)`, [] as T[], () => read(older)),
    await attempt(problems, `${label} (later backup)`, [] as T[], () => read(newer)),
  ];
  const [oldPhotos, newPhotos] = await both('Photos', readPhotoLibrary);
  const [oldChats, newChats] = await both('Messages', readChats);
  const [oldContacts, newContacts] = await both('Contacts', readContacts);
  const [oldNotes, newNotes] = await both('Notes', readNotes);
  const [oldCalls, newCalls] = await both('Call history', readCalls);
  const [oldHistory, newHistory] = await both('Safari history', (r) => readSafariHistory(r));
  const [oldBookmarks, newBookmarks] = await both('Safari bookmarks', readSafariBookmarks);
  const [oldApps, newApps] = await both('Apps', readApps);

  const appChanges = compareItems(oldApps, newApps, (a) => a.bundleId, (a, b) => a.version === b.version);
  const appChange = (before: (typeof oldApps)[number] | undefined, after: (typeof oldApps)[number] | undefined): AppChange => ({
    bundleId: (after ?? before)!.bundleId,
    oldVersion: before?.version,
    newVersion: after?.version,
    oldDataSize: before?.dataSize ?? 0,
    newDataSize: after?.dataSize ?? 0,
  });
  return {
    photos: compareItems(oldPhotos, newPhotos, (p) => `${p.domain}\u0000${p.relativePath}`, (a, b) => a.size === b.size && a.modified === b.modified),
    conversations: conversations(oldChats, newChats),
    contacts: compareItems(oldContacts, newContacts, contactKey, (a, b) => contactBody(a) === contactBody(b)),
    notes: compareItems(oldNotes, newNotes, (n) => String(n.id), (a, b) => a.title === b.title && a.body === b.body && a.modified === b.modified),
    calls: compareItems(oldCalls, newCalls, (c) => `${c.date ?? ''}\u0000${c.address ?? ''}\u0000${c.direction}`),
    safariHistory: compareItems(oldHistory, newHistory, (v) => `${v.url}\u0000${v.date ?? ''}`),
    safariBookmarks: compareItems(oldBookmarks, newBookmarks, (b) => `${b.isFolder ? 'folder' : 'url'}\u0000${b.title}\u0000${b.url ?? ''}`),
    apps: {
      installed: appChanges.added.map((a) => appChange(undefined, a)),
      removed: appChanges.removed.map((a) => appChange(a, undefined)),
      updated: appChanges.changed.map(({ before, after }) => appChange(before, after)),
    },
    problems,
  };
}
