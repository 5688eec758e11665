import { isPlistDict, type PlistDict, type PlistValue } from '../plist/index.ts';
import type { AfcClient } from '../services/afc.ts';

/** What the engine needs from lockdown to describe the device (read before the backup starts). */
export interface BackupDeviceValues {
  /** Lockdown's root domain (GetValue with no key). */
  root: PlistDict;
  /** Domain com.apple.iTunes, whole. */
  iTunesSettings?: PlistDict;
  /** com.apple.mobile.iTunes / MinITunesVersion. */
  minITunesVersion?: string;
  /** com.apple.mobile.backup / WillEncrypt. */
  willEncrypt?: boolean;
}

export const ITUNES_FILES = [
  'ApertureAlbumPrefs',
  'IC-Info.sidb',
  'IC-Info.sidv',
  'PhotosFolderAlbums',
  'PhotosFolderName',
  'PhotosFolderPrefs',
  'VoiceMemos.plist',
  'iPhotoAlbumPrefs',
  'iTunesApplicationIDs',
  'iTunesPrefs',
  'iTunesPrefs.plist',
] as const;

/** 32 uppercase hex characters (Finder writes a string; pymobiledevice3's raw bytes are a known mistake). */
export function newBackupGuid(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
}

export interface InfoPlistInputs {
  udid: string;
  values: BackupDeviceValues;
  /** User apps as installation_proxy lists them (CFBundleIdentifier, ApplicationSINF, iTunesMetadata). */
  apps: PlistDict[];
  /** bundle id → PNG from springboard. */
  icons: Map<string, Uint8Array>;
  iTunesFiles: Map<string, Uint8Array>;
  iBooksData?: Uint8Array;
  now?: Date;
  guid?: string;
}

/** Info.plist exactly as Finder/iTunes write it; rewritten on every backup. */
export function buildInfoPlist(input: InfoPlistInputs): PlistDict {
  const root = input.values.root;
  const str = (key: string): string | undefined => (typeof root[key] === 'string' ? (root[key] as string) : undefined);
  const applications: PlistDict = {};
  const installed: PlistValue[] = [];
  for (const app of input.apps) {
    const id = app.CFBundleIdentifier;
    if (typeof id !== 'string') continue;
    installed.push(id);
    if (app.ApplicationSINF instanceof Uint8Array && app.iTunesMetadata instanceof Uint8Array) {
      const entry: PlistDict = { ApplicationSINF: app.ApplicationSINF, iTunesMetadata: app.iTunesMetadata };
      const icon = input.icons.get(id);
      if (icon) entry.PlaceholderIcon = icon;
      applications[id] = entry;
    }
  }
  const iTunesFiles: PlistDict = {};
  for (const [name, data] of input.iTunesFiles) iTunesFiles[name] = data;
  const info: PlistDict = {
    Applications: applications,
    'Build Version': str('BuildVersion') ?? '',
    'Device Name': str('DeviceName') ?? '',
    'Display Name': str('DeviceName') ?? '',
    GUID: input.guid ?? newBackupGuid(),
    'Installed Applications': installed,
    'Last Backup Date': input.now ?? new Date(),
    'Product Type': str('ProductType') ?? '',
    'Product Version': str('ProductVersion') ?? '',
    'Serial Number': str('SerialNumber') ?? '',
    'Target Identifier': input.udid,
    'Target Type': 'Device',
    'Unique Identifier': input.udid.toUpperCase(),
    'iTunes Files': iTunesFiles,
    'iTunes Settings': isPlistDict(input.values.iTunesSettings) ? input.values.iTunesSettings : {},
    'iTunes Version': input.values.minITunesVersion ?? '10.0.1',
  };
  const optional: [string, string][] = [
    ['ICCID', 'IntegratedCircuitCardIdentity'],
    ['IMEI', 'InternationalMobileEquipmentIdentity'],
    ['MEID', 'MobileEquipmentIdentifier'],
    ['Phone Number', 'PhoneNumber'],
  ];
  for (const [key, source] of optional) {
    const v = str(source);
    if (v !== undefined) info[key] = v;
  }
  if (input.iBooksData) info['iBooks Data 2'] = input.iBooksData;
  return info;
}

/** The iTunes Files that exist on the device, read whole (they are small). */
export async function readITunesFiles(afc: AfcClient): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const name of ITUNES_FILES) {
    const data = await afc.readFile(`/iTunes_Control/iTunes/${name}`);
    if (data) out.set(name, data);
  }
  return out;
}
