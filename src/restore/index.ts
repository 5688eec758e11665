export { RestoreEngine, restoreErrorForDeviceCode, type RestoreOptions, type RestoreProgress, type RestoreResult, type RestoreRunOptions, type RestoreStage } from './restore-engine.ts';
export { checkRestore, readRestoreValues, compareVersions, type RestoreDeviceValues, type RestorePlan, type LeftOutItems, type RestoreCheckInput } from './prechecks.ts';
export { restoreSourceFromTree, restoreSourceFromLibrary, librarySourceOf, type RestoreSource } from './restore-source.ts';
export { RestoreFileSystem } from './restore-file-system.ts';
export { RebootRequiredError, DeviceTooOldError, UnverifiableBackupError } from './errors.ts';
export { LEFT_OUT_DESCRIPTIONS, deviceKindOf, leftOutCategory, appFamilies, type LeftOutCategory, type DeviceKind } from './cross-device.ts';
