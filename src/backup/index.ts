export { BackupEngine, errorForDeviceCode, type BackupRunOptions, type BackupResult } from './backup-engine.ts';
export { setEncryption, changePassword, type PasswordChangeOptions } from './encryption.ts';
export { buildInfoPlist, newBackupGuid, type BackupDeviceValues, type InfoPlistInputs } from './info-plist.ts';
export { ProgressTracker, type BackupProgress, type BackupStage } from './progress.ts';
export { SessionFileSystem } from './session-file-system.ts';
export { readBackupValues } from './device-values.ts';
