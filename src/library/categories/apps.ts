import { isPlistDict } from '../../plist/index.ts';
import type { BackupReader } from '../backup-reader.ts';
import { decodeMbFile } from '../mbfile.ts';

export interface AppInfo {
  bundleId: string;
  version: string | undefined;
  /** Bytes of the app's data container(s) in this backup (AppDomain, AppDomainGroup, AppDomainPlugin of that id). */
  dataSize: number;
  fileCount: number;
}

export function readApps(reader: BackupReader): AppInfo[] {
  const apps = new Map<string, AppInfo>();
  const declared = reader.manifestPlist?.['Applications'];
  if (isPlistDict(declared)) {
    for (const [bundleId, value] of Object.entries(declared)) {
      const version = isPlistDict(value) && typeof value['CFBundleVersion'] === 'string' ? value['CFBundleVersion'] : undefined;
      apps.set(bundleId, { bundleId, version, dataSize: 0, fileCount: 0 });
    }
  }
  const stmt = reader.manifest.db.prepare(
    "SELECT domain, file FROM Files WHERE domain LIKE 'AppDomain-%' AND (flags & 1) = 1",
  );
  try {
    while (stmt.step()) {
      const domain = String(stmt.get(0));
      const bundleId = domain.slice('AppDomain-'.length);
      const app = apps.get(bundleId) ?? { bundleId, version: undefined, dataSize: 0, fileCount: 0 };
      const blob = stmt.get(1);
      if (blob instanceof Uint8Array) {
        try {
          app.dataSize += decodeMbFile(blob).size;
        } catch {
          // a damaged record does not hide the app
        }
      }
      app.fileCount++;
      apps.set(bundleId, app);
    }
  } finally {
    stmt.finalize();
  }
  return [...apps.values()].sort((a, b) => a.bundleId.localeCompare(b.bundleId));
}
