import type { RestorableBackup } from '../../device/device-api.ts';

/**
 * Per-device choices and facts the device card shows: "Back up automatically when this iPhone is
 * connected" (opt-in, per UDID, kept in localStorage) and when the device was last backed up.
 */
const AUTO_BACKUP_KEY = 'lifeboat.autoBackup';

type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem'>;

function autoBackupDevices(storage: KeyValueStorage | undefined): string[] {
  try {
    const raw: unknown = JSON.parse(storage?.getItem(AUTO_BACKUP_KEY) ?? '[]');
    return Array.isArray(raw) ? raw.filter((u): u is string => typeof u === 'string') : [];
  } catch {
    return [];
  }
}

export function autoBackupEnabled(udid: string, storage: KeyValueStorage | undefined = globalThis.localStorage): boolean {
  return autoBackupDevices(storage).includes(udid);
}

export function setAutoBackup(udid: string, enabled: boolean, storage: KeyValueStorage | undefined = globalThis.localStorage): void {
  const others = autoBackupDevices(storage).filter((u) => u !== udid);
  storage?.setItem(AUTO_BACKUP_KEY, JSON.stringify(enabled ? [...others, udid] : others));
}

export interface LastBackup {
  date: Date;
  location: RestorableBackup['location'];
}

/** The newest complete backup of `udid` among those Lifeboat can see (browser storage and the picked folder). */
export function lastBackupOf(udid: string, backups: readonly RestorableBackup[]): LastBackup | undefined {
  let newest: LastBackup | undefined;
  for (const b of backups) {
    if (b.sourceUdid !== udid || !b.date) continue;
    const date = new Date(b.date);
    if (Number.isNaN(date.getTime())) continue;
    if (!newest || date > newest.date) newest = { date, location: b.location };
  }
  return newest;
}

/** As Finder says it: "Today at 09:41", "Yesterday at 18:02", "3 March 2026 at 10:15". */
export function describeBackupDate(date: Date, now: Date = new Date(), locale?: string): string {
  const time = date.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
  const day = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(now) - day(date)) / 86_400_000);
  if (days === 0) return `Today at ${time}`;
  if (days === 1) return `Yesterday at ${time}`;
  return `${date.toLocaleDateString(locale, { day: 'numeric', month: 'long', year: 'numeric' })} at ${time}`;
}
