import { CorruptBackupError } from '../../core/errors.ts';
import { SubdirectorySource, type BackupSource } from './backup-source.ts';

export interface BackupLocation {
  /** Path inside the picked source ("" when the pick is the backup folder itself). */
  path: string;
  source: BackupSource;
}

const MARKERS = ['Manifest.db', 'Manifest.plist'];

async function isBackupFolder(source: BackupSource, path: string): Promise<boolean> {
  for (const marker of MARKERS) {
    const stat = await source.stat(path === '' ? marker : `${path}/${marker}`);
    if (stat?.kind === 'file') return true;
  }
  return false;
}

/**
 * Every backup folder reachable from what the person picked: the folder itself, its `<UDID>`
 * children (the MobileSync `Backup` parent) or, for a zip, one more level down (`Backup/<UDID>`).
 */
export async function findBackups(source: BackupSource, maxDepth = 2): Promise<BackupLocation[]> {
  const found: BackupLocation[] = [];
  const visit = async (path: string, depth: number): Promise<void> => {
    if (await isBackupFolder(source, path)) {
      found.push({ path, source: new SubdirectorySource(source, path) });
      return;
    }
    if (depth >= maxDepth) return;
    const children = (await source.list(path)).filter((e) => e.kind === 'directory' && !e.name.startsWith('.'));
    children.sort((a, b) => a.name.localeCompare(b.name));
    for (const child of children) await visit(path === '' ? child.name : `${path}/${child.name}`, depth + 1);
  };
  await visit('', 0);
  return found;
}

/** The one backup in the pick; with several, the caller must choose (see findBackups). */
export async function locateBackup(source: BackupSource): Promise<BackupLocation> {
  const found = await findBackups(source);
  if (found.length === 0) {
    throw new CorruptBackupError(
      `No backup found in “${source.label}”: there is no Manifest.db or Manifest.plist in it or its subfolders.`,
    );
  }
  return found[0]!;
}
