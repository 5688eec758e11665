import { BackupReader } from '../backup-reader.ts';
import { locateBackup } from '../source/locate.ts';
import { NodeFsSource } from './fs-source.ts';

/** Opens the backup at (or under) a local folder and unlocks it when a password is given. */
export async function openBackupFolder(path: string, password?: string): Promise<BackupReader> {
  const { source } = await locateBackup(new NodeFsSource(path));
  const reader = await BackupReader.open(source);
  if (reader.encrypted && password !== undefined) await reader.unlock(password);
  return reader;
}
