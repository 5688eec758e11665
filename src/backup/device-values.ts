import type { LockdownClient } from '../lockdown/lockdown-client.ts';
import { isPlistDict, type PlistValue } from '../plist/index.ts';
import type { BackupDeviceValues } from './info-plist.ts';

async function optionalValue(lockdown: LockdownClient, domain: string, key?: string): Promise<PlistValue | undefined> {
  try {
    return await lockdown.getValue(domain, key);
  } catch {
    return undefined;
  }
}

/** Lockdown values a backup needs (backup.md §4.2 step 1); read inside a session. */
export async function readBackupValues(lockdown: LockdownClient): Promise<BackupDeviceValues> {
  const root = await lockdown.getValue();
  const iTunes = await optionalValue(lockdown, 'com.apple.iTunes');
  const minITunes = await optionalValue(lockdown, 'com.apple.mobile.iTunes', 'MinITunesVersion');
  const willEncrypt = await optionalValue(lockdown, 'com.apple.mobile.backup', 'WillEncrypt');
  return {
    root: isPlistDict(root) ? root : {},
    iTunesSettings: isPlistDict(iTunes) ? iTunes : {},
    minITunesVersion: typeof minITunes === 'string' ? minITunes : undefined,
    willEncrypt: willEncrypt === true,
  };
}
