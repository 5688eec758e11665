import type { PlistDict } from '../../plist/index.ts';
import { Dataset, datasetProfile, type DatasetSize, type Profile } from '../dataset/dataset.ts';
import { BackupEncryption } from '../encryption/backup-encryption.ts';
import { DEVICE_KDF, type KdfParameters } from '../encryption/keybag.ts';
import type { ServiceHandler } from '../virtual-iphone.ts';
import { AFC_SERVICE, afcHandler, defaultMediaFilesystem, type AfcFilesystem } from './afc.ts';
import { INSTALLATION_PROXY_SERVICE, installationProxyHandler } from './installation-proxy.ts';
import { MOBILEBACKUP2_SERVICE, mobileBackup2Handler } from './mobilebackup2/mobilebackup2-service.ts';
import type { BackupDeviceState, BackupFaults, DeviceBehaviour } from './mobilebackup2/backup-state.ts';
import type { BackupRecordStore } from './mobilebackup2/backup-record.ts';
import { addProfileFiles, type ProfileFiles } from '../dataset/profile-files.ts';
import { NotificationCenter } from './notification-center.ts';
import { NOTIFICATION_PROXY_SERVICE, notificationProxyHandler } from './notification-proxy.ts';
import { PasscodeGate } from './passcode-gate.ts';
import { SPRINGBOARD_SERVICE, springboardHandler } from './springboard-services.ts';

export interface BackupServicesOptions {
  /** Dataset profile (default "small") or a ready Dataset. */
  dataset?: DatasetSize | Dataset;
  seed?: number;
  /**
   * Generate this fraction of the dataset's apps and photos (each app as big as at full size), to
   * watch how a cost grows with the file count without generating 1.3M files (`--dataset-scale`).
   */
  datasetScale?: number;
  /** Apply `dataset.mutate(N)` once after the dataset is generated (`--mutate N`). */
  mutate?: number;
  /** Backup encryption on from the start, with this password. */
  backupPassword?: string;
  /** KDF rounds for keybags the device creates (default: DPIC 10,000,000 / ITER 10,000). */
  kdf?: KdfParameters;
  /** A passcode is set: backups (iOS ≥ 16.1) and password changes wait for `enterPasscode()`. */
  passcode?: boolean | { timeoutMs?: number };
  faults?: BackupFaults;
  /** Version differences of BackupAgent2 (set by a named profile). */
  behaviour?: DeviceBehaviour;
  /** Files and apps a named profile adds to the dataset. */
  files?: ProfileFiles;
  /** Multiplies the profile's deliberate delays (prepareMs): 0.01 turns three minutes into 1.8 s. Default 1. */
  timeScale?: number;
  /** Where the rows of the Manifest.db files this device sent are kept across restarts (the Node phone's --state). */
  backupRecords?: BackupRecordStore;
}

/** The parts of VirtualIPhone the backup services use. */
export interface BackupServicesHost {
  readonly udid: string;
  readonly values?: { root: PlistDict; domains: Record<string, PlistDict> };
  registerService(name: string, handler: ServiceHandler): void;
  reboot?(): void;
  readonly bootCount?: number;
}

export interface BackupServices {
  readonly state: BackupDeviceState;
  readonly notifications: NotificationCenter;
  readonly afc: AfcFilesystem;
  readonly passcode: PasscodeGate | null;
  /** Resolves once the initial keybag (if any) exists. */
  readonly ready: Promise<void>;
  dataset(): Promise<Dataset>;
  /** Calls `listener` whenever a request changed what a backup would contain; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

function scaled(behaviour: DeviceBehaviour, timeScale: number): DeviceBehaviour {
  return behaviour.prepareMs === undefined ? behaviour : { ...behaviour, prepareMs: Math.round(behaviour.prepareMs * timeScale) };
}

/** Registers notification_proxy, afc, installation_proxy, springboardservices and mobilebackup2. */
export function installBackupServices(iphone: BackupServicesHost, options: BackupServicesOptions = {}): BackupServices {
  const notifications = new NotificationCenter();
  const afc = defaultMediaFilesystem();
  const passcode = options.passcode ? new PasscodeGate(notifications, typeof options.passcode === 'object' ? options.passcode.timeoutMs : undefined) : null;
  let datasetPromise: Promise<Dataset> | undefined;
  const dataset = (): Promise<Dataset> => {
    const given = options.dataset;
    datasetPromise ??= (given instanceof Dataset ? Promise.resolve(given) : Dataset.create({ size: given ?? 'small', seed: options.seed ?? 1, ...scaledProfile(given ?? 'small', options.datasetScale) })).then((d) => {
      if (options.files && !(given instanceof Dataset)) addProfileFiles(d, options.files);
      if (options.mutate !== undefined) d.mutate(options.mutate);
      return d;
    });
    return datasetPromise;
  };
  const backupDomain = (): PlistDict | undefined => {
    if (!iphone.values) return undefined;
    iphone.values.domains['com.apple.mobile.backup'] ??= {};
    return iphone.values.domains['com.apple.mobile.backup'];
  };
  const kdf = options.kdf ?? DEVICE_KDF;
  const changeListeners = new Set<() => void>();
  const state: BackupDeviceState = {
    udid: iphone.udid,
    dataset,
    encryption: null,
    kdf,
    notifications,
    passcode,
    faults: options.faults ?? {},
    behaviour: scaled(options.behaviour ?? {}, options.timeScale ?? 1),
    lockdownRoot: () => iphone.values?.root ?? {},
    setWillEncrypt: (on) => {
      const domain = backupDomain();
      if (domain) domain['WillEncrypt'] = on;
    },
    productVersion: () => {
      const v = iphone.values?.root['ProductVersion'];
      return typeof v === 'string' ? v : '18.6';
    },
    uploadChunkBytes: 64 * 1024,
    batchFiles: 128,
    lockdownDomains: () => iphone.values?.domains ?? {},
    reboot: () => iphone.reboot?.(),
    bootCount: () => iphone.bootCount ?? 0,
    ...(options.backupRecords ? { backupRecords: options.backupRecords } : {}),
    changed: () => {
      for (const listener of [...changeListeners]) listener();
    },
  };
  if (state.faults.syncLockHeldMs) afc.externalLockUntil = Date.now() + state.faults.syncLockHeldMs;
  const ready = options.backupPassword
    ? BackupEncryption.create(options.backupPassword, kdf).then((encryption) => {
        state.encryption = encryption;
        state.setWillEncrypt(true);
      })
    : Promise.resolve();
  const whenReady = (handler: ServiceHandler): ServiceHandler => (stream) => {
    void ready.then(() => handler(stream));
  };
  iphone.registerService(NOTIFICATION_PROXY_SERVICE, notificationProxyHandler(notifications));
  iphone.registerService(AFC_SERVICE, afcHandler(afc));
  iphone.registerService(INSTALLATION_PROXY_SERVICE, installationProxyHandler(async () => (await dataset()).apps));
  iphone.registerService(SPRINGBOARD_SERVICE, springboardHandler());
  iphone.registerService(MOBILEBACKUP2_SERVICE, whenReady(mobileBackup2Handler(state)));
  const onChange = (listener: () => void): (() => void) => {
    changeListeners.add(listener);
    return () => changeListeners.delete(listener);
  };
  return { state, notifications, afc, passcode, ready, dataset, onChange };
}

function scaledProfile(size: DatasetSize, scale: number | undefined): { profile?: Profile } {
  if (scale === undefined || scale === 1) return {};
  const full = datasetProfile(size);
  return { profile: { ...full, apps: Math.max(1, Math.round(full.apps * scale)), photos: Math.round(full.photos * scale) } };
}
