import type { DeviceBehaviour } from './services/mobilebackup2/backup-state.ts';
import type { ProfileFiles } from './dataset/profile-files.ts';

/**
 * Named device profiles (`--profile NAME`): each one is a real model and iOS release plus the
 * documented behaviours that release shows a backup host. The table of behaviours and the public
 * code that shows them is in src/virtual-iphone/README.md; keep the two in step.
 */
export interface ProfileSettings {
  productType: string;
  productVersion: string;
  /** A pre-2018 device (A11 and older) has a 40-hex-digit UDID, lower case. */
  udid?: string;
  storageGb?: number;
  /** Fraction of the data partition in use, 0..1. */
  usedFraction?: number;
  deviceName?: string;
  behaviour?: DeviceBehaviour;
  files?: ProfileFiles;
  /** A passcode is set on the phone (the backup passcode sheet appears where the release shows it). */
  passcode?: boolean;
  /** OpenSSL cipher list the device's TLS accepts (lockdown sessions and SSL services). */
  tlsCiphers?: string;
}

export interface NamedProfile {
  readonly name: string;
  /** One line for `--list-profiles -v` and the README. */
  readonly summary: string;
  readonly settings: ProfileSettings;
}

/** Three minutes of "Preparing backup…" on a full device, before the first DL message. */
const SLOW_PREPARE_MS = 3 * 60_000;

export const NAMED_PROFILES: readonly NamedProfile[] = [
  {
    name: 'ios10.1-iphone7',
    summary: 'iPhone 7 on iOS 10.1.1: 40-digit UDID, encrypted Manifest.db not yet encrypted (no ManifestKey), older MoveFiles/RemoveFiles names, protocol 2.0',
    settings: {
      productType: 'iPhone9,3',
      productVersion: '10.1.1',
      udid: '5c1f6a2b0e9d4c7a8b3f2e1d0c9b8a7f6e5d4c3b',
      behaviour: { manifestKey: false, protocolVersions: [2.0], moveMessage: 'DLMessageMoveFiles', removeMessage: 'DLMessageRemoveFiles' },
    },
  },
  {
    name: 'ios10.3-iphone6s',
    summary: 'iPhone 6s on iOS 10.3.3: ManifestKey present (10.2+), 40-digit UDID, 16 GB nearly full',
    settings: {
      productType: 'iPhone8,1',
      productVersion: '10.3.3',
      udid: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
      storageGb: 16,
      usedFraction: 0.96,
    },
  },
  {
    name: 'ios12-iphonex',
    summary: 'iPhone X on iOS 12.5.7: TLS only with ECDHE-RSA-AES256-GCM-SHA384, 40-digit UDID',
    settings: {
      productType: 'iPhone10,6',
      productVersion: '12.5.7',
      udid: '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c',
      tlsCiphers: 'ECDHE-RSA-AES256-GCM-SHA384',
    },
  },
  {
    name: 'ios15-iphone7-small',
    summary: 'iPhone 7 32 GB on iOS 15.8, 97% full: an older small-storage iPhone',
    settings: { productType: 'iPhone9,3', productVersion: '15.8', udid: '9a8b7c6d5e4f30211203f4e5d6c7b8a9a0b1c2d3', storageGb: 32, usedFraction: 0.97 },
  },
  {
    name: 'ios15.7.1-passcode',
    summary: 'iPhone 13 on iOS 15.7.1 with a passcode: the backup passcode sheet (back-ported to 15.7.1)',
    settings: { productType: 'iPhone14,5', productVersion: '15.7.1', passcode: true, behaviour: { passcodePromptFrom: '15.7.1' } },
  },
  {
    name: 'ios16.0-passcode',
    summary: 'iPhone 14 Pro on iOS 16.0 with a passcode: no passcode sheet before a backup yet',
    settings: { productType: 'iPhone15,2', productVersion: '16.0', passcode: true },
  },
  {
    name: 'ios16.1-passcode',
    summary: 'iPhone 14 Pro on iOS 16.1 with a passcode: passcode sheet before every backup',
    settings: { productType: 'iPhone15,2', productVersion: '16.1', passcode: true },
  },
  {
    name: 'ios17-devicelink',
    summary: 'iPhone 15 on iOS 17.5: ContentsOfDirectory, CopyItem, GetFreeDiskSpace after every batch',
    settings: {
      productType: 'iPhone15,4',
      productVersion: '17.5',
      behaviour: { listsBackupFolder: true, copiesPreviousManifest: true, asksFreeSpaceEachBatch: true },
    },
  },
  {
    name: 'ios17-names',
    summary: 'iPhone 15 Pro on iOS 17.6.1: decomposed (NFD) names, very long paths, names differing only in case',
    settings: { productType: 'iPhone16,1', productVersion: '17.6.1', files: { unicodeNames: true, longPaths: true, caseTwins: true } },
  },
  {
    name: 'ios18-many-apps',
    summary: 'iPhone 16 Pro on iOS 18.6 with 2,000 apps',
    settings: { productType: 'iPhone17,1', productVersion: '18.6', files: { apps: 2000 } },
  },
  {
    name: 'ipados17-ipad',
    summary: 'iPad (6th generation) on iPadOS 17.5: Wi-Fi only (no IMEI, phone number or SIM keys), iPad apps',
    settings: { productType: 'iPad7,5', productVersion: '17.5', udid: '3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5' },
  },
  {
    name: 'ipados18-ipadpro',
    summary: 'iPad Pro (11-inch, 3rd generation) on iPadOS 18.5, 2 TB',
    settings: { productType: 'iPad13,4', productVersion: '18.5', storageGb: 2048 },
  },
  {
    name: 'ios18-error-shapes',
    summary: 'iPhone 15 Pro Max on iOS 18.1: failures answered with ErrorCode only, or with DLMessageDisconnect and a reason',
    settings: { productType: 'iPhone16,2', productVersion: '18.1', behaviour: { errorShape: 'code-only' } },
  },
  {
    name: 'ios18-slow',
    summary: 'iPhone 12 on iOS 18.0: three minutes of silence preparing before the first file (scaled by --time-scale)',
    settings: { productType: 'iPhone13,2', productVersion: '18.0', behaviour: { prepareMs: SLOW_PREPARE_MS } },
  },
  {
    name: 'ios18-huge-file',
    summary: 'iPhone 15 Pro on iOS 18.6 with a 4.1 GiB video (over the 32-bit length limit)',
    settings: { productType: 'iPhone16,1', productVersion: '18.6', files: { bigFileBytes: 4.1 * 1024 ** 3 } },
  },
];

export function findNamedProfile(name: string): NamedProfile | undefined {
  return NAMED_PROFILES.find((p) => p.name === name);
}

/** The profile called `name`, or a RangeError that lists the known names. */
export function namedProfile(name: string): NamedProfile {
  const profile = findNamedProfile(name);
  if (!profile) throw new RangeError(`Unknown profile "${name}"; known: ${NAMED_PROFILES.map((p) => p.name).join(', ')}`);
  return profile;
}
