import { CorruptBackupError, FindMyEnabledError, InsufficientSpaceError, WrongPasswordError } from '../core/errors.ts';
import type { LockdownClient } from '../lockdown/lockdown-client.ts';
import { BackupReader } from '../library/backup-reader.ts';
import { rowSize, verifyRow } from '../library/export/verify.ts';
import { MbFileFieldReader } from '../library/mbfile-fields.ts';
import { decodePlist, isPlistDict, type PlistDict, type PlistValue } from '../plist/index.ts';
import { appFamilies, deviceKindOf, familyOf, LEFT_OUT_DESCRIPTIONS, leftOutCategory, type LeftOutCategory } from './cross-device.ts';
import { DeviceTooOldError, UnverifiableBackupError } from './errors.ts';
import { librarySourceOf, type RestoreSource } from './restore-source.ts';

/** Lockdown values the pre-checks need from the target device (read before anything else is touched). */
export interface RestoreDeviceValues {
  /** Root domain: ProductType, ProductVersion, DeviceClass. */
  root: PlistDict;
  /** Domain com.apple.fmip (IsAssociated = Find My on). */
  findMy?: PlistDict;
  /** Domain com.apple.disk_usage (AmountDataAvailable). */
  diskUsage?: PlistDict;
}

export async function readRestoreValues(lockdown: LockdownClient): Promise<RestoreDeviceValues> {
  const optional = async (domain: string): Promise<PlistDict | undefined> => {
    try {
      const v = await lockdown.getValue(domain);
      return isPlistDict(v) ? v : undefined;
    } catch {
      return undefined;
    }
  };
  const root = await lockdown.getValue();
  return { root: isPlistDict(root) ? root : {}, findMy: await optional('com.apple.fmip'), diskUsage: await optional('com.apple.disk_usage') };
}

/** Problem files named in the error (all are counted): enough to recognise, not a million-line message. */
const MAX_NAMED_PROBLEMS = 1000;

export interface LeftOutItems {
  category: LeftOutCategory;
  description: string;
  files: number;
  bytes: number;
  /** A few "domain/path" names, for the person to recognise. */
  examples: string[];
}

/** What the checks found; the restore goes ahead with it. */
export interface RestorePlan {
  sourceLabel: string;
  encrypted: boolean;
  backupProductType: string | undefined;
  backupVersion: string | undefined;
  deviceProductType: string | undefined;
  deviceVersion: string | undefined;
  fileCount: number;
  totalBytes: number;
  /** The backup is of another kind of device (e.g. an iPad backup onto an iPhone). */
  crossDevice: boolean;
  /** Empty unless crossDevice. */
  leftOut: LeftOutItems[];
  appsNotBuiltForTarget: string[];
  /** Info.plist's Applications dict (what RestoreApplications.plist gets), if any. */
  applications: PlistDict | undefined;
  warnings: string[];
}

export interface RestoreCheckInput {
  source: RestoreSource;
  values: RestoreDeviceValues;
  password?: string;
}

function str(v: PlistValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: PlistValue | undefined): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

async function readPlist(source: RestoreSource, name: string): Promise<PlistDict> {
  const lib = librarySourceOf(source);
  let value: PlistValue;
  try {
    value = decodePlist(await lib.readFile(name));
  } catch (error) {
    throw new CorruptBackupError(`${name} in “${source.label}” cannot be read: ${(error as Error).message}`, error);
  }
  if (!isPlistDict(value)) throw new CorruptBackupError(`${name} in “${source.label}” is not a dictionary.`);
  return value;
}

/**
 * Everything a person needs checked before the phone is touched (backup.md §7): the backup is
 * complete and verifies, the password unlocks it, Find My is off, the iPhone's iOS is not older than
 * the backup's, there is room for it, and — for another kind of device — what will not transfer.
 */
export async function checkRestore(input: RestoreCheckInput): Promise<RestorePlan> {
  const { source, values } = input;
  for (const name of ['Info.plist', 'Manifest.plist', 'Status.plist']) {
    const stat = await source.stat(name);
    if (stat?.kind !== 'file') {
      throw new UnverifiableBackupError(`“${source.label}” is not a complete backup: ${name} is missing.`, [`missing ${name}`]);
    }
  }
  const status = await readPlist(source, 'Status.plist');
  if (status['SnapshotState'] !== 'finished') {
    throw new UnverifiableBackupError(
      `The backup in “${source.label}” was interrupted (Status.plist says "${String(status['SnapshotState'])}", not "finished"); restoring it would lose data.`,
      ['unfinished snapshot'],
    );
  }
  const info = await readPlist(source, 'Info.plist');

  // Manifest.db is read in place: a 1.3M-file backup's is 1.5 GB, which must not be loaded to be checked.
  const reader = await BackupReader.open(librarySourceOf(source), { manifest: 'in-place' });
  try {
    if (reader.encrypted) {
      if (input.password === undefined) throw new WrongPasswordError('This backup is encrypted: give its password to restore it.');
      await reader.unlock(input.password); // WrongPasswordError when it does not fit
    }
    // The checks that need no pass over the files come first, so they answer at once.
    if (values.findMy?.['IsAssociated'] === true) throw new FindMyEnabledError();

    const summary = reader.summary();
    const manifestLockdown = isPlistDict(reader.manifestPlist?.['Lockdown']) ? reader.manifestPlist['Lockdown'] : {};
    const backupVersion = str(manifestLockdown['ProductVersion']) ?? summary.productVersion;
    const deviceVersion = str(values.root['ProductVersion']);
    if (backupVersion && deviceVersion && compareVersions(backupVersion, deviceVersion) > 0) throw new DeviceTooOldError(backupVersion, deviceVersion);

    const backupProductType = str(manifestLockdown['ProductType']) ?? summary.productType;
    const deviceProductType = str(values.root['ProductType']);
    const backupKind = deviceKindOf(backupProductType);
    const deviceKind = (str(values.root['DeviceClass']) as ReturnType<typeof deviceKindOf>) ?? deviceKindOf(deviceProductType);
    const crossDevice = backupKind !== undefined && deviceKind !== undefined && backupKind !== deviceKind;

    const families = appFamilies(info);
    const targetFamily = deviceKind ? familyOf(deviceKind) : 1;
    const notBuilt = new Set<string>();
    if (crossDevice) for (const [id, f] of families) if (!f.includes(targetFamily)) notBuilt.add(id);
    const bundleIds = [...new Set([...families.keys(), ...(Array.isArray(info['Installed Applications']) ? info['Installed Applications'].filter((x): x is string => typeof x === 'string') : [])])];

    // One pass over the rows: each file's payload is verified and counted, nothing is kept per file.
    const leftOut = new Map<LeftOutCategory, LeftOutItems>();
    const problems: string[] = [];
    let problemCount = 0;
    let fileCount = 0;
    let totalBytes = 0;
    let restoredBytes = 0;
    const fields = new MbFileFieldReader();
    for await (const row of reader.manifestRows()) {
      if (row.kind !== 'file') continue;
      const expected = rowSize(reader, row, fields);
      const problem = await verifyRow(reader, row, expected);
      if (problem) {
        problemCount++;
        if (problems.length < MAX_NAMED_PROBLEMS) problems.push(`${problem.domain}/${problem.relativePath} (${problem.problem})`);
      }
      const size = expected.size;
      fileCount++;
      totalBytes += size;
      const why = crossDevice ? leftOutCategory(row.domain, row.relativePath, notBuilt, bundleIds) : undefined;
      if (!why) {
        restoredBytes += size;
        continue;
      }
      const item = leftOut.get(why) ?? { category: why, description: LEFT_OUT_DESCRIPTIONS[why], files: 0, bytes: 0, examples: [] };
      item.files++;
      item.bytes += size;
      if (item.examples.length < 3) item.examples.push(`${row.domain}/${row.relativePath}`);
      leftOut.set(why, item);
    }
    if (problemCount > 0) {
      throw new UnverifiableBackupError(
        `The backup does not verify: ${problemCount} of ${fileCount} files are missing or damaged (first: ${problems[0]}). Restoring it would lose data.`,
        problems,
      );
    }
    const available = num(values.diskUsage?.['AmountDataAvailable']);
    if (available !== undefined && restoredBytes > available) {
      throw new InsufficientSpaceError(
        `The iPhone has ${(available / 1e6).toFixed(0)} MB free but the backup needs ${(restoredBytes / 1e6).toFixed(0)} MB (device error 105 otherwise).`,
      );
    }
    const warnings: string[] = [];
    if (crossDevice) {
      warnings.push(`This backup is of an ${backupKind} (${backupProductType}); restoring it onto an ${deviceKind} leaves some things out.`);
      for (const item of leftOut.values()) warnings.push(`Not restored: ${item.description} — ${item.files} files.`);
    }
    return {
      sourceLabel: source.label,
      encrypted: reader.encrypted,
      backupProductType,
      backupVersion,
      deviceProductType,
      deviceVersion,
      fileCount,
      totalBytes,
      crossDevice,
      leftOut: [...leftOut.values()],
      appsNotBuiltForTarget: [...notBuilt].sort(),
      applications: isPlistDict(info['Applications']) ? info['Applications'] : undefined,
      warnings,
    };
  } finally {
    reader.close();
  }
}

