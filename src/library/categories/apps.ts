import { isPlistDict, type PlistValue } from '../../plist/index.ts';
import type { BackupReader } from '../backup-reader.ts';
import { decodeMbFile } from '../mbfile.ts';

/** One of an app's data containers in the backup. */
export interface AppContainer {
  domain: string;
  /** AppDomain- (the app's own), AppDomainGroup- (shared with its extensions), AppDomainPlugin- (an extension's). */
  kind: 'app' | 'group' | 'plugin';
  size: number;
  fileCount: number;
}

export interface AppInfo {
  bundleId: string;
  version: string | undefined;
  /** Bytes of all the app's containers in this backup. */
  dataSize: number;
  fileCount: number;
  /** The containers counted, the app's own first, then groups and plugins by domain. */
  containers: AppContainer[];
}

const PREFIXES = [
  ['AppDomainGroup-', 'group'],
  ['AppDomainPlugin-', 'plugin'],
  ['AppDomain-', 'app'],
] as const;

function kindOf(domain: string): { kind: AppContainer['kind']; id: string } | undefined {
  for (const [prefix, kind] of PREFIXES) if (domain.startsWith(prefix)) return { kind, id: domain.slice(prefix.length) };
  return undefined;
}

/** The longest of `bundleIds` that `id` is, or is nested under ("com.a.app" owns "com.a.app.widget"). */
function owner(id: string, bundleIds: string[]): string | undefined {
  let best: string | undefined;
  for (const b of bundleIds) if ((id === b || id.startsWith(`${b}.`)) && (!best || b.length > best.length)) best = b;
  return best;
}

/**
 * The app a group or plugin container belongs to. iOS names extension containers after the
 * extension's bundle id, which sits under its app's ("com.maker.app.widget"), and group containers
 * after an app-group id, by convention "group.<app id>[.suffix]". Containers that fit no app the
 * backup declares (Apple's own groups, groups shared across a maker's apps) are not attributed.
 */
export function appOfContainer(domain: string, bundleIds: string[]): string | undefined {
  const parsed = kindOf(domain);
  if (!parsed) return undefined;
  if (parsed.kind === 'app') return parsed.id;
  if (parsed.kind === 'plugin') return owner(parsed.id, bundleIds);
  return owner(parsed.id.replace(/^group\./, ''), bundleIds);
}

/** Bundle ids the backup declares: Manifest.plist Applications, Info.plist Applications and Installed Applications. */
function declaredApps(reader: BackupReader): Map<string, string | undefined> {
  const apps = new Map<string, string | undefined>();
  const addDict = (value: PlistValue | undefined) => {
    if (!isPlistDict(value)) return;
    for (const [bundleId, entry] of Object.entries(value)) {
      const version = isPlistDict(entry) && typeof entry['CFBundleVersion'] === 'string' ? entry['CFBundleVersion'] : undefined;
      apps.set(bundleId, version ?? apps.get(bundleId));
    }
  };
  addDict(reader.manifestPlist?.['Applications']);
  addDict(reader.info?.['Applications']);
  const installed = reader.info?.['Installed Applications'];
  if (Array.isArray(installed)) for (const id of installed) if (typeof id === 'string' && !apps.has(id)) apps.set(id, undefined);
  return apps;
}

/** Sizes and file counts of every app container domain, from one pass over Manifest.db. */
function containerSizes(reader: BackupReader): Map<string, { size: number; fileCount: number }> {
  const sizes = new Map<string, { size: number; fileCount: number }>();
  const stmt = reader.manifest.db.prepare("SELECT domain, file FROM Files WHERE domain LIKE 'AppDomain%' AND (flags & 1) = 1");
  try {
    while (stmt.step()) {
      const domain = String(stmt.get(0));
      const entry = sizes.get(domain) ?? { size: 0, fileCount: 0 };
      const blob = stmt.get(1);
      if (blob instanceof Uint8Array) {
        try {
          entry.size += decodeMbFile(blob).size;
        } catch {
          // a damaged record does not hide the app
        }
      }
      entry.fileCount++;
      sizes.set(domain, entry);
    }
  } finally {
    stmt.finalize();
  }
  return sizes;
}

const KIND_ORDER = { app: 0, group: 1, plugin: 2 } as const;

export function readApps(reader: BackupReader): AppInfo[] {
  const declared = declaredApps(reader);
  const sizes = containerSizes(reader);
  for (const domain of sizes.keys()) {
    const parsed = kindOf(domain);
    if (parsed?.kind === 'app' && !declared.has(parsed.id)) declared.set(parsed.id, undefined);
  }
  const bundleIds = [...declared.keys()];
  const apps = new Map<string, AppInfo>(bundleIds.map((bundleId) => [bundleId, { bundleId, version: declared.get(bundleId), dataSize: 0, fileCount: 0, containers: [] }]));
  for (const [domain, { size, fileCount }] of sizes) {
    const parsed = kindOf(domain);
    const bundleId = appOfContainer(domain, bundleIds);
    const app = bundleId === undefined ? undefined : apps.get(bundleId);
    if (!parsed || !app) continue;
    app.containers.push({ domain, kind: parsed.kind, size, fileCount });
    app.dataSize += size;
    app.fileCount += fileCount;
  }
  for (const app of apps.values()) app.containers.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.domain.localeCompare(b.domain));
  return [...apps.values()].sort((a, b) => a.bundleId.localeCompare(b.bundleId));
}
