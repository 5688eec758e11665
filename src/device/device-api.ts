/**
 * The device worker's API as the UI sees it (types only: the UI never imports protocol code).
 * workers/device.worker.ts implements it; src/ui talks to it through Comlink.
 */
export interface DeviceCardInfo {
  udid: string;
  deviceName: string;
  productType: string;
  marketingName: string;
  deviceClass: string;
  productVersion: string;
  buildVersion: string;
  serialNumber?: string;
  /** Bytes; present once the device trusts us (or when the device shares it without a session). */
  storage?: { total: number; available: number };
  battery?: { level: number; charging: boolean };
  trusted: boolean;
  willEncrypt?: boolean;
  virtual: boolean;
}

export type PairingStep =
  | { step: 'waiting-for-trust' }
  | { step: 'locked' }
  | { step: 'denied' }
  | { step: 'trusted' };

export type { BackupProgress, BackupStage } from '../backup/progress.ts';
import type { BackupProgress } from '../backup/progress.ts';

export interface BackupOutcome {
  filesReceived: number;
  bytesReceived: number;
  durationMs: number;
  isFullBackup: boolean;
  encrypted: boolean;
  warnings: string[];
  /** Where the backup went: the browser's storage, or the named folder the person picked. */
  location: { kind: 'browser' } | { kind: 'folder'; name: string };
}

export type { RestoreProgress, RestoreStage } from '../restore/restore-engine.ts';
import type { RestoreProgress } from '../restore/restore-engine.ts';

/** A complete backup in the browser's storage that can be restored to the connected device. */
export interface RestorableBackup {
  /** Folder name: the UDID of the device the backup was made from. */
  sourceUdid: string;
  deviceName: string;
  productType: string;
  marketingName: string;
  productVersion: string;
  date: string | undefined;
  encrypted: boolean;
  /** Earlier backups of the same device kept beside the latest, newest first. */
  versions: { id: string; date: string; encrypted: boolean }[];
  /** The browser's storage, or the picked folder it was found in (pass that folder back in RestoreRequest). */
  location: { kind: 'browser' } | { kind: 'folder'; name: string };
}

/** What the pre-checks found: everything a person must know before risking their phone. */
export interface RestorePlanView {
  encrypted: boolean;
  fileCount: number;
  totalBytes: number;
  backupVersion: string | undefined;
  deviceVersion: string | undefined;
  crossDevice: boolean;
  /** What will not transfer to another kind of device. */
  leftOut: { description: string; files: number; bytes: number }[];
  appsNotBuiltForTarget: string[];
  warnings: string[];
}

/** A finished restore. */
export interface RestoreOutcome {
  filesSent: number;
  bytesSent: number;
  durationMs: number;
  /** Raised while the files went to the device (the plan's own warnings were shown before it started). */
  warnings: string[];
}

export interface RestoreRequest {
  sourceUdid: string;
  /** An earlier backup of that device (RestorableBackup.versions); the latest when absent. */
  versionId?: string;
  /** The picked folder the backup is in (RestorableBackup.location 'folder'); the browser's storage when absent. */
  folder?: FileSystemDirectoryHandle;
  password?: string;
  /** Take the backup's settings instead of keeping the device's. */
  settings?: boolean;
  /** Delete items on the device that the backup does not have. */
  removeItemsNotRestored?: boolean;
}

export interface BackupOptions {
  full?: boolean;
  /** Earlier backups of this device to keep beside the new one (snapshots share unchanged files). */
  keepVersions?: number;
  /**
   * A folder the person picked (File System Access, write permission already granted): the backup goes
   * there as ordinary files in Finder's layout instead of into the browser's storage.
   */
  folder?: FileSystemDirectoryHandle;
}

export interface DeviceWorkerApi {
  /** Connect to the demo device: `port` reaches the virtual iPhone worker's fake USB device. */
  connectVirtual(port: MessagePort): Promise<DeviceCardInfo>;
  /** Connect to a device the person granted through Chrome's chooser (found again with getDevices in the worker). */
  connectUsb(match: { vendorId: number; productId: number; serialNumber: string | undefined }): Promise<DeviceCardInfo>;
  /** Run the Trust flow; `onStep` is a Comlink proxy. Resolves with the full card. */
  pair(onStep: (step: PairingStep) => void): Promise<DeviceCardInfo>;
  /** Remove our pairing (and tell the device when it is connected). */
  forget(): Promise<void>;
  disconnect(): Promise<void>;
  /** Called (via a Comlink proxy) when the cable is pulled. */
  onDisconnect(callback: () => void): void;
  /** Back up into the browser's storage (OPFS). Progress arrives at most 10 times a second. */
  backup(options: BackupOptions, onProgress: (progress: BackupProgress) => void): Promise<BackupOutcome>;
  /** Stops a running backup; what was received is kept so the next backup resumes. */
  cancelBackup(): Promise<void>;
  /** Turn backup encryption on (the new password) or off (the current password). Resolves with the updated card. */
  setEncryption(enable: boolean, password: string, onPasscodePrompt: (shown: boolean) => void): Promise<DeviceCardInfo>;
  changeBackupPassword(oldPassword: string, newPassword: string, onPasscodePrompt: (shown: boolean) => void): Promise<void>;
  /** Backups in the browser's storage, and in `folder` (a picked folder with permission granted) when given. */
  listRestorableBackups(folder?: FileSystemDirectoryHandle): Promise<RestorableBackup[]>;
  /** Deletes a device's backups from the browser's storage (latest, earlier versions, interrupted). The store's only writer does it. */
  deleteBackup(sourceUdid: string): Promise<void>;
  /** Runs every pre-check (Find My, iOS version, free space, verification, password) without touching the phone's data. */
  checkRestore(request: RestoreRequest): Promise<RestorePlanView>;
  /** Restores, then the device restarts and the connection ends. */
  restore(request: RestoreRequest, onProgress: (progress: RestoreProgress) => void): Promise<RestoreOutcome>;
  cancelRestore(): Promise<void>;
  /** The diagnostics trace of this session (JSON lines, redacted), for the Diagnostics view. */
  getTrace(): Promise<string>;
}
