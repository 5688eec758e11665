import { sha256 } from '@noble/hashes/sha2.js';
import { hexOf } from '../../core/hex.ts';
import { nextTask } from '../../core/next-task.ts';
import { encodeBinaryPlist } from '../../plist/index.ts';
import { appDatabases } from './app-databases.ts';
import { PrefixedContent, ProceduralContent, StaticContent, type FileContent } from './content.ts';
import { FileTable, listTable, type EntryList } from './file-table.ts';
import { HOSTILE_APP_FILES } from './hostile.ts';
import { photoJpeg } from './images.ts';
import { addressBookWithChanges, photosWithChanges, smsWithNewMessages } from './mutate-data.ts';
import { hashString, Rng } from './prng.ts';

export type DatasetSize = 'small' | 'medium' | 'large' | 'huge';

/** Dataset sizes whose truth is written as JSON lines (one entry per line): one JSON array would not fit in memory. */
export const STREAMED_TRUTH_SIZES: readonly DatasetSize[] = ['huge'];
export type EntryKind = 'file' | 'dir' | 'symlink';

/** One item of the device file system as BackupAgent2 would enumerate it. */
export interface DatasetEntry {
  domain: string;
  /** Path inside the domain; "" is the domain's root directory. */
  relativePath: string;
  kind: EntryKind;
  size: number;
  /** POSIX mode including the type bits (0o100644, 0o40755, 0o120755). */
  mode: number;
  /** Unix seconds. */
  mtime: number;
  /** Data-protection class 1…4 for files, 0 for directories and links. */
  protectionClass: number;
  inode: number;
  /** File bytes (null for directories and links). */
  content: FileContent | null;
  /** Symlink target (absolute device path). */
  target?: string;
  /** Only backed up when the backup is encrypted (keychain, Health). */
  encryptedOnly?: boolean;
}

/** What a finished backup must contain, as written by `--truth` and checked by tests. */
export interface TruthEntry {
  domain: string;
  relativePath: string;
  kind: EntryKind;
  size: number;
  sha256?: string;
  target?: string;
}

export interface AppInfo {
  bundleId: string;
  name: string;
  version: string;
  /** UIDeviceFamily: 1 iPhone, 2 iPad. Absent means both. */
  deviceFamilies?: number[];
}

/** Generated apps built for one kind of device only (the rest run on both). */
const APP_FAMILIES: Readonly<Record<string, number[]>> = { chat: [1], maps: [2] };

/** UIDeviceFamily of a generated app: `com.example.maps` is iPad-only, `com.example.chat` iPhone-only. */
export function appDeviceFamilies(bundleId: string): number[] {
  const word = /^com\.example\.([a-z]+)\d*$/.exec(bundleId)?.[1];
  return (word && APP_FAMILIES[word]) || [1, 2];
}

export interface MutationSummary {
  modified: string[];
  added: string[];
  removed: string[];
  /** Files moved to a new name, same bytes (each is also in removed and added). */
  renamed?: { from: string; to: string }[];
  /** What the change means in the phone's apps (the files behind it are in the lists above). */
  photosAdded?: string[];
  photosRemoved?: string[];
  messagesAdded?: { chat: string; count: number }[];
  contactsAdded?: string[];
  contactsChanged?: string[];
}

export interface Profile {
  apps: number;
  filesPerApp: number;
  /** Upper bound of an ordinary generated file. */
  maxFileSize: number;
  photos: number;
  videos: number;
  videoSize: number;
  /** One very large file (the `large` profile's 2 GB movie), 0 for none. */
  hugeFileSize: number;
  recordings: number;
  /**
   * How app containers are laid out: `flat` (a few well-known folders, the consumer phone) or `deep`
   * (a per-app tree of nested folders, mostly tiny files: the power user's 1.3M-file phone).
   */
  layout?: 'flat' | 'deep';
  /** Camera-roll picture size (default 320 × 240); the huge profile's 100k photos use small ones. */
  photoWidth?: number;
  photoHeight?: number;
  /** Share of the app files one `mutate()` touches (default: a fixed handful). */
  mutateFraction?: number;
}

const PROFILES: Record<DatasetSize, Profile> = {
  small: { apps: 4, filesPerApp: 40, maxFileSize: 96 * 1024, photos: 8, videos: 1, videoSize: 300 * 1024, hugeFileSize: 0, recordings: 2 },
  medium: { apps: 24, filesPerApp: 190, maxFileSize: 256 * 1024, photos: 300, videos: 8, videoSize: 12 * 1024 * 1024, hugeFileSize: 0, recordings: 10 },
  large: { apps: 110, filesPerApp: 900, maxFileSize: 96 * 1024, photos: 2000, videos: 20, videoSize: 20 * 1024 * 1024, hugeFileSize: 2 * 1024 ** 3, recordings: 40 },
  // ≈1.3M files, 1.9 GB of content, a 1.2 GB Manifest.db: 640 apps × 1,870 files in deep trees plus a 100k-photo library.
  huge: {
    apps: 640,
    filesPerApp: 1870,
    maxFileSize: 64 * 1024,
    photos: 100_000,
    videos: 4,
    videoSize: 8 * 1024 * 1024,
    hugeFileSize: 0,
    recordings: 40,
    layout: 'deep',
    photoWidth: 64,
    photoHeight: 48,
    mutateFraction: 0.01,
  },
};

/** The profile behind a dataset size (the scaled-down shape test builds its own from `huge`'s). */
export function datasetProfile(size: DatasetSize): Readonly<Profile> {
  return PROFILES[size];
}

const MODE_FILE = 0o100644;
const MODE_LINK = 0o120755;
/** 2024-03-01T00:00:00Z: generated timestamps cluster after it. */
const BASE_TIME = 1709251200;

const APP_WORDS = ['notes', 'photos', 'chat', 'maps', 'fitness', 'reader', 'weather', 'music', 'budget', 'travel', 'recipes', 'scanner'];
const DEEP_WORDS = ['cache', 'msg', 'tile', 'thumb', 'blob', 'chunk', 'attachment', 'index', 'shard', 'state', 'draft', 'asset'];
const EXTENSIONS = ['.bin', '.json', '.txt', '.dat', '.plist', '.sqlite', '.cache', '.log'];

function text(rng: Rng, approxBytes: number): Uint8Array {
  const words = ['lorem', 'ipsum', 'Grüße', 'backup', 'iPhone', 'data', 'café', 'naïve', '数据', 'photo', 'message', 'note'];
  const parts: string[] = [];
  let length = 0;
  while (length < approxBytes) {
    const w = rng.pick(words);
    parts.push(w);
    length += w.length + 1;
  }
  return new TextEncoder().encode(parts.join(' ') + '\n');
}

/** Minimal MPEG-4 audio header so recordings are recognisable as M4A containers. */
const M4A_HEADER = new Uint8Array([0, 0, 0, 0x1c, 0x66, 0x74, 0x79, 0x70, 0x4d, 0x34, 0x41, 0x20, 0, 0, 0, 0, 0x4d, 0x34, 0x41, 0x20, 0x6d, 0x70, 0x34, 0x32, 0x69, 0x73, 0x6f, 0x6d, 0, 0, 0, 8, 0x66, 0x72, 0x65, 0x65]);
const MOV_HEADER = new Uint8Array([0, 0, 0, 0x14, 0x66, 0x74, 0x79, 0x70, 0x71, 0x74, 0x20, 0x20, 0, 0, 0, 0, 0x71, 0x74, 0x20, 0x20]);

/**
 * The virtual iPhone's files: a seeded, deterministic tree of domains (apps, camera roll, SMS,
 * contacts, notes, …) with real JPEGs and SQLite databases and generated bulk data. Content of
 * big files is produced on demand, so even the `large` profile (GBs) costs only its index.
 */
export class Dataset {
  /** The files and links, as columns (file-table.ts): a 1.3M-file phone as objects filled its worker. */
  private files = new FileTable();
  private inodeCounter = 1000;
  /** Bumped by every mutate(); lets caches (e.g. the backup agent's) notice changes. */
  generation = 0;

  private constructor(
    readonly size: DatasetSize,
    readonly seed: number,
    readonly apps: AppInfo[],
    private readonly mutateFraction = 0,
  ) {}

  static async create(options: { size?: DatasetSize; seed?: number; profile?: Profile } = {}): Promise<Dataset> {
    const size = options.size ?? 'small';
    const seed = (options.seed ?? 1) >>> 0;
    const profile = options.profile ?? PROFILES[size];
    const rng = new Rng(seed);
    const apps: AppInfo[] = Array.from({ length: profile.apps }, (_, i) => {
      const word = APP_WORDS[i % APP_WORDS.length]!;
      const suffix = i < APP_WORDS.length ? '' : String(Math.floor(i / APP_WORDS.length));
      const bundleId = `com.example.${word}${suffix}`;
      return { bundleId, name: `${word[0]!.toUpperCase()}${word.slice(1)}${suffix}`, version: `${1 + rng.int(5)}.${rng.int(10)}`, deviceFamilies: appDeviceFamilies(bundleId) };
    });
    const dataset = new Dataset(size, seed, apps, profile.mutateFraction ?? 0);
    dataset.populating = true;
    try {
      await dataset.populate(profile, rng);
    } finally {
      dataset.populating = false;
    }
    return dataset;
  }

  /** True while populate() adds generated files, whose names are new by construction (no search for one already there). */
  private populating = false;

  private addFile(domain: string, relativePath: string, content: FileContent, options: { protectionClass?: number; mtime?: number; encryptedOnly?: boolean } = {}): void {
    this.files[this.populating ? 'addNew' : 'add']({
      domain,
      relativePath,
      kind: 'file',
      size: content.size,
      mode: MODE_FILE,
      mtime: options.mtime ?? BASE_TIME,
      protectionClass: options.protectionClass ?? 3,
      inode: this.inodeCounter++,
      content,
      ...(options.encryptedOnly ? { encryptedOnly: true } : {}),
    });
  }

  private addLink(domain: string, relativePath: string, target: string): void {
    this.files.add({ domain, relativePath, kind: 'symlink', size: 0, mode: MODE_LINK, mtime: BASE_TIME, protectionClass: 0, inode: this.inodeCounter++, content: null, target });
  }

  private procedural(domain: string, relativePath: string, size: number, revision = 0): ProceduralContent {
    return new ProceduralContent(hashString(`${this.seed}:${domain}/${relativePath}:${revision}`), size);
  }

  private randomSize(rng: Rng, max: number): number {
    const roll = rng.int(100);
    if (roll < 55) return rng.int(4096);
    if (roll < 90) return 4096 + rng.int(Math.max(1, Math.min(max, 64 * 1024) - 4096));
    return rng.int(max);
  }

  private async populate(profile: Profile, rng: Rng): Promise<void> {
    const t = (offset: number): number => BASE_TIME + offset;
    // Camera roll: real JPEGs, a video or two, and the Photos library database.
    const photos: string[] = [];
    for (let i = 0; i < profile.photos; i++) {
      const path = `Media/DCIM/${100 + Math.floor(i / 1000)}APPLE/IMG_${String(1 + (i % 9999)).padStart(4, '0')}.JPG`;
      photos.push(path);
      this.addFile('CameraRollDomain', path, new StaticContent(photoJpeg(this.seed, i, profile.photoWidth, profile.photoHeight)), { mtime: t(i * 600), protectionClass: 3 });
    }
    for (let i = 0; i < profile.videos; i++) {
      const path = `Media/DCIM/100APPLE/IMG_${String(5000 + i).padStart(4, '0')}.MOV`;
      this.addFile('CameraRollDomain', path, new PrefixedContent(MOV_HEADER, hashString(`${this.seed}:mov:${i}`), profile.videoSize - i * 4099), { mtime: t(i * 900) });
    }
    if (profile.hugeFileSize > 0) {
      this.addFile('CameraRollDomain', 'Media/DCIM/100APPLE/IMG_9000.MOV', new PrefixedContent(MOV_HEADER, hashString(`${this.seed}:huge`), profile.hugeFileSize), { mtime: t(99999) });
    }
    const recordings = Array.from({ length: profile.recordings }, (_, i) => `Media/Recordings/2024030${1 + (i % 9)} ${String(100000 + i * 1111)}.m4a`);
    recordings.forEach((path, i) => {
      this.addFile('MediaDomain', path, new PrefixedContent(M4A_HEADER, hashString(`${this.seed}:rec:${i}`), 20000 + rng.int(60000)), { mtime: t(i * 7200) });
    });

    const dbs = await appDatabases(this.seed, photos, recordings, BASE_TIME, { width: profile.photoWidth, height: profile.photoHeight });
    this.addFile('CameraRollDomain', 'Media/PhotoData/Photos.sqlite', new StaticContent(dbs.photosSqlite));
    this.addFile('MediaDomain', 'Media/Recordings/CloudRecordings.db', new StaticContent(dbs.cloudRecordings));
    this.addFile('HomeDomain', 'Library/SMS/sms.db', new StaticContent(dbs.smsDb));
    for (const attachment of dbs.smsAttachments) {
      this.addFile('HomeDomain', attachment.relativePath, new StaticContent(attachment.bytes ?? photoJpeg(this.seed, attachment.photoVariant)));
    }
    this.addFile('HomeDomain', 'Library/AddressBook/AddressBook.sqlitedb', new StaticContent(dbs.addressBook));
    this.addFile('HomeDomain', 'Library/CallHistoryDB/CallHistory.storedata', new StaticContent(dbs.callHistory));
    this.addFile('HomeDomain', 'Library/Safari/History.db', new StaticContent(dbs.safariHistory));
    this.addFile('HomeDomain', 'Library/Safari/Bookmarks.db', new StaticContent(dbs.safariBookmarks));
    this.addFile('AppDomainGroup-group.com.apple.notes', 'NoteStore.sqlite', new StaticContent(dbs.noteStore));
    this.addFile('KeychainDomain', 'keychain-backup.plist', new StaticContent(dbs.keychainPlist), { encryptedOnly: true, protectionClass: 1 });
    this.addFile('HealthDomain', 'Health/healthdb.sqlite', new StaticContent(dbs.healthDb), { encryptedOnly: true, protectionClass: 1 });
    this.addFile('HomeDomain', 'Library/Preferences/com.apple.springboard.plist', new StaticContent(encodeBinaryPlist({ SBHomeScreenIconColumns: 4, SBShowBatteryPercentage: true })));

    // Edge cases readers must survive: empty files, block-aligned sizes, non-ASCII names, depth, links.
    const edge = 'AppDomain-' + this.apps[0]!.bundleId;
    this.addFile(edge, 'Documents/empty.txt', new StaticContent(new Uint8Array(0)));
    for (const size of [16, 512, 4096, 65536, 65537, 131072 + 1, 16 * 1024 - 1]) {
      this.addFile(edge, `Documents/sizes/exact-${size}.bin`, this.procedural(edge, `sizes-${size}`, size));
    }
    this.addFile(edge, 'Documents/Grüße 📷.txt', new StaticContent(text(rng, 300)));
    this.addFile(edge, 'Documents/日本語/メモ.txt', new StaticContent(text(rng, 200)));
    this.addFile(edge, 'Documents/a/b/c/d/e/f/g/h/i/j/deep.bin', this.procedural(edge, 'deep', 2048));
    this.addLink(edge, 'Documents/latest-photo', '/private/var/mobile/Media/DCIM/100APPLE/IMG_0001.JPG');
    for (const hostile of HOSTILE_APP_FILES) this.addFile(edge, hostile.relativePath, new StaticContent(hostile.bytes));
    this.addLink('HomeDomain', 'Library/Preferences/com.apple.carrier.plist', '/var/mobile/Library/Carrier Bundles/Overlay/carrier.plist');

    // App containers, their shared group containers and extension containers.
    for (const [i, app] of this.apps.entries()) {
      const domain = `AppDomain-${app.bundleId}`;
      this.addFile(domain, `Library/Preferences/${app.bundleId}.plist`, new StaticContent(encodeBinaryPlist({ launchCount: 1 + rng.int(500), onboardingDone: true, lastVersion: app.version })));
      if (profile.layout === 'deep') this.populateDeepApp(domain, profile, rng);
      else for (let f = 0; f < profile.filesPerApp; f++) {
        const folder = rng.pick(['Documents', 'Documents/Inbox', 'Library/Application Support', 'Library/Application Support/Data', 'Library/SplashBoard']);
        const ext = rng.pick(EXTENSIONS);
        const path = `${folder}/item-${String(f).padStart(4, '0')}${ext}`;
        const size = this.randomSize(rng, profile.maxFileSize);
        const content = ext === '.txt' || ext === '.log' ? new StaticContent(text(rng, Math.min(size, 8192))) : this.procedural(domain, path, size);
        this.addFile(domain, path, content, { mtime: t(rng.int(86400 * 60)), protectionClass: rng.pick([2, 3, 3, 3, 4]) });
      }
      if (i % 2 === 0) {
        const group = `AppDomainGroup-group.${app.bundleId}`;
        this.addFile(group, 'Library/Preferences/group.plist', new StaticContent(encodeBinaryPlist({ shared: true, owner: app.bundleId })));
        this.addFile(group, 'Shared/state.bin', this.procedural(group, 'Shared/state.bin', 1000 + rng.int(20000)));
      }
      if (i % 3 === 0) {
        const plugin = `AppDomainPlugin-${app.bundleId}.widget`;
        this.addFile(plugin, 'Library/Preferences/widget.plist', new StaticContent(encodeBinaryPlist({ size: 'medium' })));
        this.addFile(plugin, 'Library/Caches-Snapshot/timeline.dat', this.procedural(plugin, 'timeline', 5000 + rng.int(5000)));
      }
    }
  }

  /** Adds a file a device profile brings along (odd names, a huge video: see profile-files.ts). */
  addProfileFile(domain: string, relativePath: string, content: FileContent, mtime?: number): void {
    this.addFile(domain, relativePath, content, mtime === undefined ? {} : { mtime });
    this.generation++;
  }

  /**
   * A power user's app container: a tree of nested folders grown from a few container roots (names
   * like `tile-3f/shard-a0`, as caches and offline stores shard by key), up to 14 levels deep, holding
   * mostly tiny files.
   * Sizes: 85% under 1 KiB, 14% under 8 KiB, 1% up to `maxFileSize`; all content is generated.
   */
  private populateDeepApp(domain: string, profile: Profile, rng: Rng): void {
    const roots = ['Documents', 'Library/Caches', 'Library/Application Support', 'Library/Caches/com.apple.nsurlsessiond/Downloads', 'tmp', 'Library/WebKit/WebsiteData/IndexedDB'];
    // ≈20 files per folder; every folder extends an earlier one, so they form one tree per root.
    const folders: string[] = roots.slice();
    const wanted = Math.max(roots.length, Math.ceil(profile.filesPerApp / 20));
    while (folders.length < wanted) {
      const parent = folders[rng.int(folders.length)]!;
      if (parent.split('/').length >= 14) continue;
      folders.push(`${parent}/${rng.pick(DEEP_WORDS)}-${rng.int(256).toString(16).padStart(2, '0')}`);
    }
    for (let f = 0; f < profile.filesPerApp; f++) {
      const folder = folders[rng.int(folders.length)]!;
      // Joined, not concatenated: a flat string, where a template would keep five pieces of rope per path.
      const path = [folder, '/', rng.pick(DEEP_WORDS), '-', String(f).padStart(5, '0'), rng.pick(EXTENSIONS)].join('');
      const roll = rng.int(100);
      const size = roll < 85 ? rng.int(1024) : roll < 99 ? 1024 + rng.int(7 * 1024) : rng.int(profile.maxFileSize);
      this.addFile(domain, path, this.procedural(domain, path, size), { mtime: BASE_TIME + rng.int(86400 * 60), protectionClass: 3 });
    }
  }

  /**
   * Every entry (files, links, derived directories) sorted by domain and path, as objects (a new
   * object per entry and call: a backup of a 1.3M-file phone reads `listing()` instead).
   */
  entries(encrypted: boolean): readonly DatasetEntry[] {
    return [...this.listing(encrypted)];
  }

  /**
   * The entries as a sorted list of the table's slots and folders. Kept until the data changes:
   * deriving and sorting 1.36M entries of a huge phone takes seconds.
   */
  listing(encrypted: boolean): EntryList {
    const listed = this.listed;
    if (listed && listed.generation === this.generation && listed.encrypted === encrypted && listed.list.table === this.files && listed.live === this.files.live) return listed.list;
    const list = listTable(this.files, encrypted);
    this.listed = { generation: this.generation, encrypted, live: this.files.live, list };
    return list;
  }

  private listed: { generation: number; encrypted: boolean; live: number; list: EntryList } | undefined;

  /**
   * After a restore: the device's files become `entries` (files and links; directories are derived)
   * and, when given, its apps become `apps` (the phone reinstalls what the backup lists).
   */
  replaceFromRestore(entries: readonly DatasetEntry[], apps?: readonly AppInfo[]): void {
    const files = new FileTable();
    for (const entry of entries) if (entry.kind !== 'dir') files.add(entry);
    this.files = files;
    if (apps) this.apps.splice(0, this.apps.length, ...apps);
    this.generation++;
  }

  get(domain: string, relativePath: string): DatasetEntry | undefined {
    const slot = this.files.find(domain, relativePath);
    return slot === undefined ? undefined : this.files.entry(slot);
  }

  /**
   * Changes the data as days of phone use would: a few files modified, added and removed. With
   * `everyday`, also what a person does in the phone's own apps (a file renamed, a photo taken and
   * one deleted, messages received, a contact edited and one added) — the demo phone's "Change some
   * data" and the diff tests; without it the apps' databases stay as they were.
   */
  mutate(mutationSeed: number, options: { everyday?: boolean } = {}): MutationSummary {
    const rng = new Rng((mutationSeed ^ 0xa5a5a5a5) >>> 0);
    this.generation++;
    const files = this.files;
    const candidates: number[] = [];
    for (const slot of files.liveSlots()) {
      if (files.isFile(slot) && files.domain(slot).startsWith('AppDomain-') && !files.path(slot).startsWith('Library/Preferences/')) candidates.push(slot);
    }
    const summary: MutationSummary = { modified: [], added: [], removed: [] };
    const pickDistinct = (n: number): number[] => {
      const chosen = new Set<number>();
      while (chosen.size < Math.min(n, candidates.length)) chosen.add(candidates[rng.int(candidates.length)]!);
      return [...chosen];
    };
    // The fixed handful (3 changed, 3 removed, 3 added), or `mutateFraction` of the files: 60% of it
    // changed, 20% removed, 20% added.
    const share = this.mutateFraction > 0 ? Math.max(1, Math.round(candidates.length * this.mutateFraction)) : 0;
    const changeCount = share > 0 ? Math.round(share * 0.6) : 3;
    const removeCount = share > 0 ? Math.round(share * 0.2) : 3;
    const addCount = share > 0 ? Math.max(1, share - changeCount - removeCount) : 3;
    const picked = pickDistinct(changeCount + removeCount);
    for (const slot of picked.slice(0, changeCount)) {
      const entry = files.entry(slot);
      const size = entry.size + 1 + rng.int(5000);
      const content = new ProceduralContent(hashString(`${this.seed}:${entry.domain}/${entry.relativePath}:m${mutationSeed}:${this.generation}`), size);
      files.replace(slot, { ...entry, content, size, mtime: entry.mtime + 3600 * this.generation });
      summary.modified.push(`${entry.domain}-${entry.relativePath}`);
    }
    for (const slot of picked.slice(changeCount)) {
      files.remove(slot);
      summary.removed.push(`${files.domain(slot)}-${files.path(slot)}`);
    }
    const domain = `AppDomain-${this.apps[0]!.bundleId}`;
    for (let i = 0; i < addCount; i++) {
      const path = `Documents/New ${this.generation}/${share > 0 ? `${String(Math.floor(i / 500)).padStart(3, '0')}/` : ''}added-${mutationSeed}-${i}.bin`;
      this.addFile(domain, path, this.procedural(domain, path, 100 + rng.int(30000), this.generation), { mtime: BASE_TIME + 86400 * 90 + i });
      summary.added.push(`${domain}-${path}`);
    }
    if (options.everyday) {
      const taken = new Set(picked);
      this.mutateEverydayData(rng, candidates.filter((slot) => !taken.has(slot)), summary);
    }
    return summary;
  }

  /** The rest of a few days' use: a file renamed, a photo taken and one deleted, messages, contacts. */
  private mutateEverydayData(rng: Rng, others: number[], summary: MutationSummary): void {
    const g = this.generation;
    const when = BASE_TIME + 86400 * 90 + g * 3600;
    const files = this.files;
    const moved = files.entry(others[rng.int(others.length)]!);
    const renamedTo = moved.relativePath.replace(/[^/]*$/, (name) => `renamed-${g}-${name}`);
    files.remove(files.find(moved.domain, moved.relativePath)!);
    files.add({ ...moved, relativePath: renamedTo });
    summary.removed.push(`${moved.domain}-${moved.relativePath}`);
    summary.added.push(`${moved.domain}-${renamedTo}`);
    summary.renamed = [{ from: `${moved.domain}-${moved.relativePath}`, to: `${moved.domain}-${renamedTo}` }];

    const rewrite = (domain: string, relativePath: string, edit: (bytes: Uint8Array) => Uint8Array): void => {
      const entry = this.get(domain, relativePath);
      if (!entry?.content) return;
      const content = new StaticContent(edit(entry.content.read(0, entry.size)));
      files.add({ ...entry, content, size: content.size, mtime: when });
      summary.modified.push(`${domain}-${relativePath}`);
    };
    const photos: { domain: string; relativePath: string }[] = [];
    for (const slot of files.liveSlots()) {
      if (files.domain(slot) === 'CameraRollDomain' && /^Media\/DCIM\/[^/]+\/IMG_\d+\.JPG$/.test(files.path(slot))) photos.push({ domain: 'CameraRollDomain', relativePath: files.path(slot) });
    }
    const taken = `Media/DCIM/100APPLE/IMG_${7000 + (g % 2000)}.JPG`;
    const deleted = photos.length > 1 ? photos[1 + rng.int(photos.length - 1)]! : undefined;
    this.addFile('CameraRollDomain', taken, new StaticContent(photoJpeg(this.seed, 500 + g)), { mtime: when });
    summary.added.push(`CameraRollDomain-${taken}`);
    summary.photosAdded = [`CameraRollDomain-${taken}`];
    summary.photosRemoved = [];
    if (deleted) {
      files.remove(files.find(deleted.domain, deleted.relativePath)!);
      summary.removed.push(`CameraRollDomain-${deleted.relativePath}`);
      summary.photosRemoved.push(`CameraRollDomain-${deleted.relativePath}`);
    }
    rewrite('CameraRollDomain', 'Media/PhotoData/Photos.sqlite', (bytes) => photosWithChanges(bytes, [taken], deleted ? [deleted.relativePath] : [], when));
    let chat = '';
    rewrite('HomeDomain', 'Library/SMS/sms.db', (bytes) => {
      const edited = smsWithNewMessages(bytes, g, 2, when);
      chat = edited.chat;
      return edited.bytes;
    });
    summary.messagesAdded = chat ? [{ chat, count: 2 }] : [];
    rewrite('HomeDomain', 'Library/AddressBook/AddressBook.sqlitedb', (bytes) => addressBookWithChanges(bytes, g));
    summary.contactsAdded = [`Nora${g} Newcomer`];
    summary.contactsChanged = [`Married-${g}`];
  }

  /** What a backup of the current data must contain; content hashed in chunks (no whole file in memory). */
  async truth(encrypted: boolean): Promise<TruthEntry[]> {
    const out: TruthEntry[] = [];
    for await (const item of this.truthEntries(encrypted)) out.push(item);
    return out;
  }

  /** The truth one entry at a time, in `entries()` order (for sizes too big for one array). */
  async *truthEntries(encrypted: boolean): AsyncGenerator<TruthEntry> {
    let sinceYield = 0;
    for (const entry of this.listing(encrypted)) {
      const item: TruthEntry = { domain: entry.domain, relativePath: entry.relativePath, kind: entry.kind, size: entry.size };
      if (entry.content) {
        const hash = sha256.create();
        for (let offset = 0; offset < entry.content.size; offset += 1 << 20) {
          const chunk = entry.content.read(offset, 1 << 20);
          hash.update(chunk);
          sinceYield += chunk.byteLength + 4096;
          if (sinceYield > 64 << 20) {
            sinceYield = 0;
            await nextTask();
          }
        }
        item.sha256 = toHex(hash.digest());
      }
      if (entry.target !== undefined) item.target = entry.target;
      yield item;
    }
  }

  /** Total bytes of file content that a backup in this encryption state carries. */
  totalBytes(encrypted: boolean): number {
    let total = 0;
    for (const slot of this.files.liveSlots()) if (!this.files.encryptedOnly(slot) || encrypted) total += this.files.isFile(slot) ? this.files.size(slot) : 0;
    return total;
  }
}

export function toHex(bytes: Uint8Array): string {
  return hexOf(bytes);
}
