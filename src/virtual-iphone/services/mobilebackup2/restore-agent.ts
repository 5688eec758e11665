import { decodePlist, isPlistDict, unarchive, type PlistDict, type PlistValue } from '../../../plist/index.ts';
import { StaticContent, type FileContent } from '../../dataset/content.ts';
import { appDeviceFamilies, type AppInfo, type DatasetEntry } from '../../dataset/dataset.ts';
import { openDatabase } from '../../dataset/sqlite.ts';
import { BackupEncryption } from '../../encryption/backup-encryption.ts';
import { aesCbcDecrypt, aesKeyUnwrap } from '../../encryption/crypto.ts';
import { unlockBackupKeybag } from '../../encryption/keybag.ts';
import { BackupFailure } from './backup-agent.ts';
import { MANIFEST_FLAGS } from './backup-files.ts';
import type { BackupDeviceState } from './backup-state.ts';
import type { DeviceLinkEndpoint } from './device-link.ts';

/** Payload files per DownloadFiles request, and the byte budget of one request. */
const BATCH_FILES = 128;
const BATCH_BYTES = 16 * 1024 * 1024;

/**
 * Unencrypted payloads from this size on are not held in memory: they are compared, block by block
 * as they arrive, with the device's own file at the same path, whose content is then kept. (The
 * simulated device has no disk; a 4.1 GiB video would not fit in memory, nor past MAX_DOWNLOAD_BYTES.)
 */
export const RESTORE_STREAM_BYTES = 64 * 1024 * 1024;

/** Domains a restore only writes with RestoreSystemFiles (the device keeps its own otherwise). */
const SYSTEM_DOMAIN = /^(SystemPreferencesDomain|RootDomain|WirelessDomain|ManagedPreferencesDomain|DatabaseDomain|KeyboardDomain|InstallDomain|NetworkDomain|ProtectedDomain|TonesDomain|MobileDeviceDomain|SysContainerDomain-.*|SysSharedContainerDomain-.*)$/;
/** Only ever in encrypted backups; the restored dataset marks them so an unencrypted backup leaves them out again. */
const ENCRYPTED_ONLY_DOMAIN = /^(KeychainDomain|HealthDomain)$/;

/** Why a cross-device restore leaves an item out (what a real device does). */
export type LeftOutCategory = 'photos' | 'messages-attachments' | 'voice-memos' | 'apps';

/** Boot count at the last restore per device state: a second restore without a reboot is refused (102). */
const restoredAtBoot = new WeakMap<BackupDeviceState, number>();

interface RestoreRow {
  fileId: string;
  domain: string;
  relativePath: string;
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  mode: number;
  mtime: number;
  protectionClass: number;
  inode: number;
  target?: string;
  encryptionKey?: Uint8Array;
}

export interface RestoreOutcome {
  /** RestoreShouldReboot: the device restarts after the final answer. */
  reboot: boolean;
  restoredFiles: number;
  leftOut: Partial<Record<LeftOutCategory, number>>;
}

function num(value: PlistValue | undefined, fallback = 0): number {
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : fallback;
}

function str(value: PlistValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** -1, 0, 1 for dotted versions ("17.5" vs "17.5.1"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Device kind from a ProductType ("iPad13,4" → iPad). */
export function deviceKindOf(productType: string | undefined): 'iPhone' | 'iPad' | 'iPod' | undefined {
  if (!productType) return undefined;
  if (productType.startsWith('iPad')) return 'iPad';
  if (productType.startsWith('iPhone')) return 'iPhone';
  if (productType.startsWith('iPod')) return 'iPod';
  return undefined;
}

/**
 * What a cross-device restore leaves out of one item, or undefined when it is restored. `appBuiltFor`
 * answers whether a bundle id runs on the target.
 */
export function crossDeviceLeftOut(domain: string, relativePath: string, appBuiltFor: (bundleId: string) => boolean, bundleIds: readonly string[]): LeftOutCategory | undefined {
  if (domain === 'CameraRollDomain') return 'photos';
  if ((domain === 'HomeDomain' || domain === 'MediaDomain') && (relativePath === 'Library/SMS/Attachments' || relativePath.startsWith('Library/SMS/Attachments/'))) return 'messages-attachments';
  if (domain === 'MediaDomain' && (relativePath === 'Media/Recordings' || relativePath.startsWith('Media/Recordings/'))) return 'voice-memos';
  const owner = appOfDomain(domain, bundleIds);
  if (owner !== undefined && !appBuiltFor(owner)) return 'apps';
  return undefined;
}

/** The app a container domain belongs to: AppDomain-<id>, AppDomainGroup-group.<id>, AppDomainPlugin-<id>.<ext>. */
export function appOfDomain(domain: string, bundleIds: readonly string[]): string | undefined {
  if (domain.startsWith('AppDomain-')) return domain.slice('AppDomain-'.length);
  if (domain.startsWith('AppDomainGroup-group.')) {
    const id = domain.slice('AppDomainGroup-group.'.length);
    return bundleIds.includes(id) ? id : undefined;
  }
  if (domain.startsWith('AppDomainPlugin-')) {
    const plugin = domain.slice('AppDomainPlugin-'.length);
    return bundleIds.find((id) => plugin.startsWith(`${id}.`));
  }
  return undefined;
}

/** UIDeviceFamily from a backup's Info.plist Applications entry (its iTunesMetadata), else the App Store's answer. */
function familiesOf(bundleId: string, applications: PlistDict | undefined): number[] {
  const entry = applications?.[bundleId];
  if (isPlistDict(entry) && entry['iTunesMetadata'] instanceof Uint8Array) {
    try {
      const meta = decodePlist(entry['iTunesMetadata']);
      const families = isPlistDict(meta) ? meta['UIDeviceFamily'] : undefined;
      if (Array.isArray(families) && families.length > 0) return families.map((f) => num(f));
    } catch {
      // Unreadable metadata: fall back to what the store knows.
    }
  }
  return appDeviceFamilies(bundleId);
}

/**
 * One Restore request, driven as BackupAgent2 drives it: refuse early (reboot pending, passcode,
 * Find My), download Status.plist, Manifest.plist, Manifest.db and Info.plist, check the iOS
 * version, password and free space, pull the payloads in batches, then replace the device's data.
 */
export class RestoreRun {
  private readonly udid: string;

  constructor(
    private readonly link: DeviceLinkEndpoint,
    private readonly state: BackupDeviceState,
    private readonly request: PlistDict,
  ) {
    this.udid = state.udid;
  }

  async run(): Promise<RestoreOutcome> {
    const state = this.state;
    const options = isPlistDict(this.request['Options']) ? this.request['Options'] : {};
    const target = this.request['TargetIdentifier'];
    if (typeof target === 'string' && target.toUpperCase() !== this.udid.toUpperCase()) {
      throw new BackupFailure(1, `TargetIdentifier ${target} is not this device`);
    }
    const source = str(this.request['SourceIdentifier']) ?? this.udid;
    const boot = state.bootCount?.() ?? 0;
    if (restoredAtBoot.get(state) === boot) {
      throw new BackupFailure(102, 'A restore already ran since the last reboot (/var/.backup.i exists); reboot the device before restoring again');
    }
    if (state.passcode && !(await state.passcode.prompt())) throw new BackupFailure(208, 'Device locked (passcode not entered)');
    const domains = state.lockdownDomains?.() ?? {};
    if (domains['com.apple.fmip']?.['IsAssociated'] === true) throw new BackupFailure(211, 'Find My iPhone must be disabled before restoring');

    // 1. Backup properties.
    const head = await this.link.downloadFiles([`${source}/Status.plist`, `${source}/Manifest.plist`], 0);
    const status = parseDict(head.get(`${source}/Status.plist`));
    if (!status) throw new BackupFailure(4, `No Status.plist in backup ${source}`);
    if (status['SnapshotState'] !== 'finished') throw new BackupFailure(205, `Backup ${source} is not complete (SnapshotState ${String(status['SnapshotState'])})`);
    const manifest = parseDict(head.get(`${source}/Manifest.plist`));
    if (!manifest) throw new BackupFailure(205, 'Error reading backup properties: no Manifest.plist');
    const lockdown = isPlistDict(manifest['Lockdown']) ? manifest['Lockdown'] : {};
    const backupVersion = str(lockdown['ProductVersion']);
    const deviceVersion = state.productVersion();
    if (backupVersion && compareVersions(backupVersion, deviceVersion) > 0) {
      throw new BackupFailure(205, `The backup was made on iOS ${backupVersion}, newer than this device's iOS ${deviceVersion}`);
    }

    let classKeys: Map<number, Uint8Array> | null = null;
    let password: string | undefined;
    if (manifest['IsEncrypted'] === true) {
      password = str(options['Password']) ?? str(this.request['Password']);
      const keybag = manifest['BackupKeyBag'];
      if (password === undefined) throw new BackupFailure(207, 'The backup is encrypted and no password was given');
      if (!(keybag instanceof Uint8Array)) throw new BackupFailure(205, 'Encrypted backup without a keybag');
      classKeys = await unlockBackupKeybag(keybag, password);
      if (!classKeys) throw new BackupFailure(207, 'Invalid backup password');
    }

    // 2. The manifest of files.
    const rows = await this.manifestRows(source, manifest, classKeys);
    const infoFiles = await this.link.downloadFiles([`${source}/Info.plist`], 2);
    const info = parseDict(infoFiles.get(`${source}/Info.plist`));
    const applications = info && isPlistDict(info['Applications']) ? info['Applications'] : undefined;

    // 3. Plan: what this device takes from the backup.
    const root = state.lockdownRoot();
    const deviceKind = str(root['DeviceClass']) ?? deviceKindOf(str(root['ProductType'])) ?? 'iPhone';
    const backupKind = deviceKindOf(str(lockdown['ProductType']) ?? str(info?.['Product Type']));
    const crossDevice = backupKind !== undefined && backupKind !== deviceKind;
    const family = deviceKind === 'iPad' ? 2 : 1;
    const backupApps = appsOf(manifest, info, rows);
    const builtFor = (id: string): boolean => familiesOf(id, applications).includes(family);
    const restoreSystem = options['RestoreSystemFiles'] === true;
    const preserveSettings = options['RestorePreserveSettings'] !== false;
    const removeNotRestored = options['RemoveItemsNotRestored'] === true;
    const leftOut: Partial<Record<LeftOutCategory, number>> = {};
    const keepDevice = (domain: string, path: string): boolean => (!restoreSystem && SYSTEM_DOMAIN.test(domain)) || (preserveSettings && isSettings(domain, path));
    const wanted = rows.filter((row) => {
      if (row.kind === 'dir' || keepDevice(row.domain, row.relativePath)) return false;
      if (!crossDevice) return true;
      const why = crossDeviceLeftOut(row.domain, row.relativePath, builtFor, backupApps.map((a) => a.bundleId));
      if (why && row.kind === 'file') leftOut[why] = (leftOut[why] ?? 0) + 1;
      return why === undefined;
    });
    const restoreBytes = wanted.reduce((n, r) => n + (r.kind === 'file' ? r.size : 0), 0);
    const available = num(domains['com.apple.disk_usage']?.['AmountDataAvailable'], Number.MAX_SAFE_INTEGER);
    if (restoreBytes > available) {
      throw new BackupFailure(105, `Insufficient free disk space on device to restore (need ${restoreBytes} bytes, have ${available})`);
    }

    // 4. Pull the payloads.
    const contents = new Map<string, Uint8Array | FileContent>();
    const own = await state.dataset();
    const streamed = new Map<string, StreamedPayload>();
    const files = wanted.filter((r) => r.kind === 'file');
    let fetched = 0;
    for (let i = 0; i < files.length; ) {
      const batch: RestoreRow[] = [];
      let bytes = 0;
      while (i < files.length && batch.length < BATCH_FILES && (batch.length === 0 || bytes < BATCH_BYTES)) {
        const row = files[i++]!;
        batch.push(row);
        bytes += row.size;
      }
      const progress = 3 + (restoreBytes === 0 ? 0 : (fetched / restoreBytes) * 92);
      for (const row of batch) {
        if (row.size >= RESTORE_STREAM_BYTES && !(classKeys && row.encryptionKey)) {
          streamed.set(`${source}/${row.fileId.slice(0, 2)}/${row.fileId}`, new StreamedPayload(row, own.get(row.domain, row.relativePath)?.content ?? null));
        }
      }
      const got = await this.link.downloadFiles(batch.map((r) => `${source}/${r.fileId.slice(0, 2)}/${r.fileId}`), progress, (path) => {
        const payload = streamed.get(path);
        return payload ? (block) => payload.take(block) : undefined;
      });
      for (const row of batch) {
        const path = `${source}/${row.fileId.slice(0, 2)}/${row.fileId}`;
        const raw = got.get(path);
        if (!raw) throw new BackupFailure(4, `The backup has no payload for ${row.domain}-${row.relativePath}`);
        const payload = streamed.get(path);
        contents.set(row.fileId, payload ? payload.finish() : await this.plain(row, raw, classKeys));
        streamed.delete(path);
      }
      fetched += bytes;
    }

    // 5. Apply.
    const dataset = await state.dataset();
    const restored = new Map<string, DatasetEntry>();
    for (const row of wanted) restored.set(`${row.domain}\u0000${row.relativePath}`, toEntry(row, contents.get(row.fileId)));
    const result: DatasetEntry[] = [];
    for (const entry of dataset.entries(true)) {
      if (entry.kind === 'dir') continue;
      const k = `${entry.domain}\u0000${entry.relativePath}`;
      if (restored.has(k)) continue;
      if (!removeNotRestored || keepDevice(entry.domain, entry.relativePath)) result.push(entry);
    }
    // A loop, not push(...): a spread of 100k+ entries overflows the stack.
    for (const entry of restored.values()) result.push(entry);
    const apps = backupApps.filter((a) => !crossDevice || builtFor(a.bundleId));
    dataset.replaceFromRestore(result, apps.length > 0 ? mergeApps(removeNotRestored ? [] : dataset.apps, apps) : undefined);
    if (password !== undefined) {
      // The backup's encryption setting comes back with it.
      state.encryption = await BackupEncryption.create(password, state.kdf);
      state.setWillEncrypt(true);
    }
    restoredAtBoot.set(state, boot);
    return { reboot: options['RestoreShouldReboot'] !== false, restoredFiles: files.length, leftOut };
  }

  /**
   * The backup's Manifest.db rows. Its bytes (1.19 GB at 1.3M files) are dropped once read instead of
   * living as long as the restore.
   */
  private async manifestRows(source: string, manifest: PlistDict, classKeys: Map<number, Uint8Array> | null): Promise<RestoreRow[]> {
    const dbFiles = await this.link.downloadFiles([`${source}/Manifest.db`], 1);
    let db = dbFiles.get(`${source}/Manifest.db`);
    if (!db) throw new BackupFailure(205, 'Error reading backup properties: no Manifest.db');
    const manifestKey = manifest['ManifestKey'];
    if (classKeys && manifestKey instanceof Uint8Array) {
      const key = await unwrap(classKeys, manifestKey);
      if (!key) throw new BackupFailure(207, 'Manifest.db key does not fit the password');
      try {
        db = await aesCbcDecrypt(key, db);
      } catch {
        throw new BackupFailure(207, 'Manifest.db does not decrypt with this password');
      }
    }
    return readRows(db);
  }

  private async plain(row: RestoreRow, raw: Uint8Array, classKeys: Map<number, Uint8Array> | null): Promise<Uint8Array> {
    if (!classKeys || !row.encryptionKey) return raw;
    const key = await unwrap(classKeys, row.encryptionKey);
    if (!key) throw new BackupFailure(207, `The key of ${row.domain}-${row.relativePath} does not fit the password`);
    let plain: Uint8Array;
    try {
      plain = await aesCbcDecrypt(key, raw);
    } catch {
      throw new BackupFailure(207, `${row.domain}-${row.relativePath} does not decrypt with this password`);
    }
    return plain.byteLength > row.size ? plain.subarray(0, row.size) : plain;
  }
}

function isSettings(domain: string, relativePath: string): boolean {
  return domain === 'HomeDomain' && relativePath.startsWith('Library/Preferences/');
}

function parseDict(bytes: Uint8Array | undefined): PlistDict | undefined {
  if (!bytes) return undefined;
  try {
    const value = decodePlist(bytes);
    return isPlistDict(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

async function unwrap(classKeys: Map<number, Uint8Array>, blob: Uint8Array): Promise<Uint8Array | null> {
  if (blob.byteLength !== 44) return null;
  const clas = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
  const classKey = classKeys.get(clas);
  return classKey ? aesKeyUnwrap(classKey, blob.subarray(4)) : null;
}

async function readRows(bytes: Uint8Array): Promise<RestoreRow[]> {
  let db;
  try {
    db = await openDatabase(bytes);
  } catch {
    throw new BackupFailure(205, 'Manifest.db is not a database');
  }
  try {
    const out: RestoreRow[] = [];
    for (const [fileId, domain, relativePath, flags, blob] of db.selectArrays('SELECT fileID, domain, relativePath, flags, file FROM Files') as unknown[][]) {
      if (typeof fileId !== 'string' || typeof domain !== 'string' || typeof relativePath !== 'string') continue;
      const kind = Number(flags) === MANIFEST_FLAGS.dir ? 'dir' : Number(flags) === MANIFEST_FLAGS.symlink ? 'symlink' : 'file';
      let file: PlistDict = {};
      if (blob instanceof Uint8Array) {
        const value = unarchive(decodePlist(blob));
        if (isPlistDict(value)) file = value;
      }
      const key = file['EncryptionKey'];
      const target = file['Target'];
      out.push({
        fileId,
        domain,
        relativePath,
        kind,
        size: kind === 'file' ? num(file['Size']) : 0,
        mode: num(file['Mode'], kind === 'dir' ? 0o40755 : kind === 'symlink' ? 0o120755 : 0o100644),
        mtime: num(file['LastModified']),
        protectionClass: num(file['ProtectionClass']),
        inode: num(file['InodeNumber']),
        ...(typeof target === 'string' ? { target } : {}),
        ...(key instanceof Uint8Array ? { encryptionKey: key } : {}),
      });
    }
    return out;
  } catch (error) {
    if (error instanceof BackupFailure) throw error;
    throw new BackupFailure(205, `Manifest.db could not be read: ${(error as Error).message}`);
  } finally {
    db.close();
  }
}

/**
 * A big restored payload checked as it streams in: it must be, byte for byte, the content the device
 * already holds at that path (the simulation keeps that content instead of a copy).
 */
class StreamedPayload {
  private received = 0;
  private differsAt: number | null = null;
  private scratch = new Uint8Array(0);

  constructor(
    private readonly row: RestoreRow,
    private readonly own: FileContent | null,
  ) {}

  take(block: Uint8Array): void {
    const at = this.received;
    this.received += block.byteLength;
    if (this.differsAt !== null) return;
    if (!this.own || this.received > this.own.size) {
      this.differsAt = at;
      return;
    }
    if (this.scratch.byteLength < block.byteLength) this.scratch = new Uint8Array(block.byteLength);
    const mine = this.scratch.subarray(0, block.byteLength);
    this.own.readInto(at, mine);
    for (let i = 0; i < block.byteLength; i++) {
      if (block[i] !== mine[i]) {
        this.differsAt = at + i;
        return;
      }
    }
  }

  finish(): FileContent {
    const name = `${this.row.domain}-${this.row.relativePath}`;
    if (this.differsAt === null && this.own && this.received === this.own.size) return this.own;
    const where = this.differsAt !== null ? `differs from the device's own copy at byte ${this.differsAt}` : `has ${this.received} bytes, the device's own copy ${this.own?.size ?? 'none'}`;
    throw new BackupFailure(
      4,
      `${name} (${this.received} bytes) ${where}: the virtual iPhone restores files of ${RESTORE_STREAM_BYTES} bytes or more only when they equal the ones it holds, as it keeps no disk`,
    );
  }
}

function toEntry(row: RestoreRow, content: Uint8Array | FileContent | undefined): DatasetEntry {
  const size = content === undefined ? 0 : content instanceof Uint8Array ? content.byteLength : content.size;
  const entry: DatasetEntry = {
    domain: row.domain,
    relativePath: row.relativePath,
    kind: row.kind,
    size: row.kind === 'file' ? size : 0,
    mode: row.mode,
    mtime: row.mtime,
    protectionClass: row.protectionClass,
    inode: row.inode,
    content: row.kind === 'file' ? (content === undefined || content instanceof Uint8Array ? new StaticContent(content ?? new Uint8Array(0)) : content) : null,
  };
  if (row.target !== undefined) entry.target = row.target;
  if (ENCRYPTED_ONLY_DOMAIN.test(row.domain)) entry.encryptedOnly = true;
  return entry;
}

/** Apps the backup lists (Manifest.plist Applications, Info.plist Installed Applications), else its AppDomain-* folders. */
function appsOf(manifest: PlistDict, info: PlistDict | undefined, rows: readonly RestoreRow[]): AppInfo[] {
  const apps = new Map<string, AppInfo>();
  const listed = isPlistDict(manifest['Applications']) ? manifest['Applications'] : {};
  for (const [id, value] of Object.entries(listed)) {
    const v = isPlistDict(value) ? value : {};
    const path = str(v['Path']);
    const name = path ? /([^/]+)\.app$/.exec(path)?.[1] : undefined;
    apps.set(id, { bundleId: id, name: name ?? id, version: str(v['CFBundleVersion']) ?? '1.0', deviceFamilies: familiesOf(id, undefined) });
  }
  const installed = info?.['Installed Applications'];
  if (Array.isArray(installed)) {
    for (const id of installed) if (typeof id === 'string' && !apps.has(id)) apps.set(id, { bundleId: id, name: id, version: '1.0', deviceFamilies: familiesOf(id, undefined) });
  }
  if (apps.size === 0) {
    for (const row of rows) {
      if (row.domain.startsWith('AppDomain-') && row.relativePath === '') {
        const id = row.domain.slice('AppDomain-'.length);
        apps.set(id, { bundleId: id, name: id, version: '1.0', deviceFamilies: familiesOf(id, undefined) });
      }
    }
  }
  return [...apps.values()];
}

function mergeApps(current: readonly AppInfo[], restored: readonly AppInfo[]): AppInfo[] {
  const out = new Map<string, AppInfo>();
  for (const app of current) out.set(app.bundleId, app);
  for (const app of restored) out.set(app.bundleId, app);
  return [...out.values()];
}
