/** Host side of lockdownd: pairing, sessions, device values and StartService. */
export { LockdownClient, forgetDevice, type LockdownClientOptions, type PairOptions, type PairingProgress } from './lockdown-client.ts';
export {
  LockdownError,
  PairingInvalidError,
  PairingPendingError,
  SessionInactiveError,
  ServiceUnavailableError,
  ValueUnavailableError,
  DevicePolicyError,
  lockdownErrorFor,
} from './errors.ts';
export { encodePairRecord, decodePairRecord, pairRecordToPlist, pairRecordFromPlist, type PairRecord } from './pair-record.ts';
export {
  UsbmuxdPairingStore,
  KeyValuePairingStore,
  MemoryPairingDatabase,
  type PairingStore,
  type PairingIdentity,
  type NewPairing,
  type PairingDatabase,
  type StoredPairing,
} from './pairing-store.ts';
export { readDeviceInfo, type DeviceInfo } from './device-info.ts';
export { productName, isKnownProductType } from './product-names.ts';
// Types only: certificates.ts (X.509) is imported lazily by LockdownClient.pair, so a session that
// does not pair never loads it. Import its functions from './certificates.ts' directly.
export type { PairingCertificates } from './certificates.ts';
