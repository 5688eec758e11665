import type { Dataset } from '../../dataset/dataset.ts';
import type { BackupEncryption } from '../../encryption/backup-encryption.ts';
import type { KdfParameters } from '../../encryption/keybag.ts';
import type { NotificationCenter } from '../notification-center.ts';
import type { PasscodeGate } from '../passcode-gate.ts';
import type { PlistDict } from '../../../plist/index.ts';
import type { BackupRecordStore } from './backup-record.ts';

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

/**
 * How this device's BackupAgent2 differs from the current default (iOS 18) — set by a named
 * profile (src/virtual-iphone/profiles.ts); every field absent means "as iOS 18 does it".
 */
export interface DeviceBehaviour {
  /** mobilebackup2 versions the device knows; it answers the highest one the host also offers. Default [2.0, 2.1]. */
  protocolVersions?: readonly number[];
  /** Encrypted backups carry ManifestKey and an encrypted Manifest.db (iOS ≥ 10.2). Default true. */
  manifestKey?: boolean;
  /** Name of the move request: DLMessageMoveItems (default) or the older DLMessageMoveFiles. */
  moveMessage?: 'DLMessageMoveItems' | 'DLMessageMoveFiles';
  /** Name of the remove request: DLMessageRemoveItems (default) or the older DLMessageRemoveFiles. */
  removeMessage?: 'DLMessageRemoveItems' | 'DLMessageRemoveFiles';
  /** Lists the device folder (DLContentsOfDirectory) before uploading, as when resuming a snapshot. */
  listsBackupFolder?: boolean;
  /** Keeps a copy of the host's previous Manifest.plist (DLMessageCopyItem) before replacing it. */
  copiesPreviousManifest?: boolean;
  /** Asks GetFreeDiskSpace again after every upload batch. */
  asksFreeSpaceEachBatch?: boolean;
  /** Silence after the Backup request before the first DL message (scan of a big device), ms. */
  prepareMs?: number;
  /**
   * How a failed request is answered: 'description' (ErrorCode + ErrorDescription, default),
   * 'code-only' (no ErrorDescription) or 'disconnect' (DLMessageDisconnect with the reason instead of a Response).
   */
  errorShape?: 'description' | 'code-only' | 'disconnect';
  /** The backup passcode sheet appears from this iOS version on (default 16.1); "never" for none. */
  passcodePromptFrom?: string;
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
  /** Version differences of this device's BackupAgent2. */
  behaviour: DeviceBehaviour;
  /** Called after a request changed what a backup would contain (encryption switched, restore applied). */
  changed?: () => void;
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
  /** Records of the Manifest.db files this device sent, kept across restarts (backup-record.ts); absent: none. */
  backupRecords?: BackupRecordStore;
}
