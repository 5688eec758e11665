import type { Dataset } from '../../dataset/dataset.ts';
import type { BackupEncryption } from '../../encryption/backup-encryption.ts';
import type { KdfParameters } from '../../encryption/keybag.ts';
import type { NotificationCenter } from '../notification-center.ts';
import type { PasscodeGate } from '../passcode-gate.ts';
import type { PlistDict } from '../../../plist/index.ts';

/** Misbehaviour a test can ask of the device. */
export interface BackupFaults {
  /** End the next Backup with this MBErrorDomain code instead of running (e.g. 105, 208). */
  errorCode?: number;
  /** Close the link abruptly once this many bytes of the Backup's traffic were written. */
  unplugAtByte?: number;
  /** Go silent for this long after the Backup request (scan/compaction pauses). */
  stallMs?: number;
  /** Pretend another host holds the AFC sync lock for this long. */
  syncLockHeldMs?: number;
  /**
   * End the running operation with this error instead of sending its next DeviceLink message (or
   * answering the next ChangePassword); cleared once used. The fault campaign arms it mid-run.
   */
  errorAtNextMessage?: { code: number; description?: string };
}

/** What BackupAgent2 knows across connections: the data, the encryption keybag and its settings. */
export interface BackupDeviceState {
  udid: string;
  dataset: () => Promise<Dataset>;
  /** Non-null while backup encryption is on. */
  encryption: BackupEncryption | null;
  kdf: KdfParameters;
  notifications: NotificationCenter;
  passcode: PasscodeGate | null;
  faults: BackupFaults;
  /** Live lockdown values (WillEncrypt lives in domains['com.apple.mobile.backup']). */
  lockdownRoot: () => PlistDict;
  setWillEncrypt: (on: boolean) => void;
  productVersion: () => string;
  /** Size of each FILE_DATA block in uploads. */
  uploadChunkBytes: number;
  /** Files per UploadFiles batch (BackupAgent2 uses 128). */
  batchFiles: number;
  /** Named lockdown domains (restore reads com.apple.fmip and com.apple.disk_usage). */
  lockdownDomains?: () => Record<string, PlistDict>;
  /** Restarts the device: drops every connection (after a restore with RestoreShouldReboot). */
  reboot?: () => void;
  /** How often the device rebooted (a second restore needs a reboot in between, else error 102). */
  bootCount?: () => number;
}
