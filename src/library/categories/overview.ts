import type { BackupReader } from '../backup-reader.ts';
import { readApps } from './apps.ts';
import { readCalls } from './calls.ts';
import { readChats, countMessages } from './messages.ts';
import { readContacts } from './contacts.ts';
import { readPhotos, readVoiceMemos } from './media.ts';
import { readNotes } from './notes.ts';
import { readSafariBookmarks, readSafariHistory } from './safari.ts';

export type CategoryId =
  | 'messages'
  | 'contacts'
  | 'photos'
  | 'notes'
  | 'calls'
  | 'safari-history'
  | 'safari-bookmarks'
  | 'voice-memos'
  | 'apps';

export interface CategoryCount {
  id: CategoryId;
  label: string;
  count: number;
  /** Set when the category's database is there but could not be read; the rest still works. */
  error: string | undefined;
}

export interface EncryptedOnlyItem {
  label: string;
  /** true: this (encrypted) backup holds it; false: it is not in this backup. */
  present: boolean;
}

export interface BackupContents {
  categories: CategoryCount[];
  /** Data an iPhone only puts into encrypted backups. */
  encryptedOnly: EncryptedOnlyItem[];
  /** Never part of a computer backup, encrypted or not. */
  neverIncluded: string[];
}

const NEVER_INCLUDED = [
  'iCloud data (iCloud Photos, Messages in iCloud, iCloud Drive and other synced content)',
  'Face ID and Touch ID settings',
  'Apple Pay information and settings',
  'Mail messages (they stay on the mail server)',
  'Content from the App Store and Apple Books (downloaded again on restore)',
];

async function count(id: CategoryId, label: string, run: () => Promise<number> | number): Promise<CategoryCount> {
  try {
    return { id, label, count: await run(), error: undefined };
  } catch (error) {
    return { id, label, count: 0, error: (error as Error).message };
  }
}

/** "What's in this backup", from the backup's own contents. */
export async function describeContents(reader: BackupReader): Promise<BackupContents> {
  const categories = [
    await count('messages', 'Messages', async () => ((await readChats(reader)).length ? countMessages(reader) : 0)),
    await count('contacts', 'Contacts', async () => (await readContacts(reader)).length),
    await count('photos', 'Photos and videos', () => readPhotos(reader).length),
    await count('notes', 'Notes', async () => (await readNotes(reader)).length),
    await count('calls', 'Call history', async () => (await readCalls(reader)).length),
    await count('safari-history', 'Safari history', async () => (await readSafariHistory(reader)).length),
    await count('safari-bookmarks', 'Safari bookmarks', async () => (await readSafariBookmarks(reader)).filter((b) => !b.isFolder).length),
    await count('voice-memos', 'Voice memos', () => readVoiceMemos(reader).length),
    await count('apps', 'Apps', () => readApps(reader).length),
  ];
  const has = (domainLike: string) =>
    reader.manifest.db.selectValue("SELECT 1 FROM Files WHERE domain LIKE ? ESCAPE '\\' LIMIT 1", [domainLike]) === 1;
  const encrypted = reader.encrypted;
  const encryptedOnly: EncryptedOnlyItem[] = [
    { label: 'Saved passwords and keychain', present: encrypted && has('KeychainDomain') },
    { label: 'Health data', present: encrypted && has('HealthDomain') },
    { label: 'Activity and workout data', present: encrypted && has('HealthDomain') },
  ];
  return { categories, encryptedOnly, neverIncluded: [...NEVER_INCLUDED] };
}
