/**
 * Which of the things people care about a backup file belongs to, from its domain and path alone
 * (the diff sorts a million changed rows with this, so it never opens a database).
 */
export type FileCategory =
  | 'photos'
  | 'messages'
  | 'contacts'
  | 'notes'
  | 'calls'
  | 'safari'
  | 'voice-memos'
  | 'apps'
  | 'keychain'
  | 'health'
  | 'system';

export const FILE_CATEGORY_LABELS: Readonly<Record<FileCategory, string>> = {
  photos: 'Photos and videos',
  messages: 'Messages',
  contacts: 'Contacts',
  notes: 'Notes',
  calls: 'Call history',
  safari: 'Safari',
  'voice-memos': 'Voice memos',
  apps: 'Apps',
  keychain: 'Keychain',
  health: 'Health',
  system: 'Settings and system',
};

/** Paths under HomeDomain/MediaDomain that belong to one category, by prefix. */
const PREFIXES: readonly (readonly [string, string, FileCategory])[] = [
  ['CameraRollDomain', '', 'photos'],
  ['MediaDomain', 'Media/DCIM/', 'photos'],
  ['MediaDomain', 'Media/PhotoData/', 'photos'],
  ['MediaDomain', 'Library/SMS/', 'messages'],
  ['MediaDomain', 'Media/Recordings/', 'voice-memos'],
  ['HomeDomain', 'Library/SMS/', 'messages'],
  ['HomeDomain', 'Library/AddressBook/', 'contacts'],
  ['HomeDomain', 'Library/Notes/', 'notes'],
  ['HomeDomain', 'Library/CallHistoryDB/', 'calls'],
  ['HomeDomain', 'Library/CallHistory/', 'calls'],
  ['HomeDomain', 'Library/Safari/', 'safari'],
  ['AppDomain-com.apple.mobilesafari', '', 'safari'],
  ['AppDomainGroup-group.com.apple.notes', '', 'notes'],
  ['KeychainDomain', '', 'keychain'],
  ['HealthDomain', '', 'health'],
];

export function fileCategory(domain: string, relativePath: string): FileCategory {
  for (const [d, prefix, category] of PREFIXES) {
    if (domain === d && relativePath.startsWith(prefix)) return category;
  }
  // The bare folder rows of a category (relativePath "Library/SMS") count with it too.
  for (const [d, prefix, category] of PREFIXES) {
    if (prefix && domain === d && `${relativePath}/` === prefix) return category;
  }
  if (domain.startsWith('AppDomain')) return 'apps';
  return 'system';
}
