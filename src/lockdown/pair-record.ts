import { decodePlist, encodeBinaryPlist, isPlistDict, type PlistDict } from '../plist/index.ts';
import { PemError } from './pem.ts';

/**
 * A pair record exactly as libimobiledevice and usbmuxd store it (`<UDID>.plist`): certificates
 * and keys are PEM text carried as plist data, never DER. Private keys may be PKCS#8 or PKCS#1.
 */
export interface PairRecord {
  hostId: string;
  systemBuid: string;
  /** PEM text of each certificate. */
  rootCertificate: Uint8Array;
  hostCertificate: Uint8Array;
  deviceCertificate: Uint8Array;
  /** PEM text; absent in records whose keys live elsewhere (the browser keeps them as CryptoKeys). */
  rootPrivateKey?: Uint8Array;
  hostPrivateKey?: Uint8Array;
  escrowBag?: Uint8Array;
  wifiMacAddress?: string;
}

export function pairRecordToPlist(record: PairRecord): PlistDict {
  const dict: PlistDict = {
    DeviceCertificate: record.deviceCertificate,
    HostCertificate: record.hostCertificate,
    RootCertificate: record.rootCertificate,
    HostID: record.hostId,
    SystemBUID: record.systemBuid,
  };
  if (record.hostPrivateKey) dict.HostPrivateKey = record.hostPrivateKey;
  if (record.rootPrivateKey) dict.RootPrivateKey = record.rootPrivateKey;
  if (record.escrowBag) dict.EscrowBag = record.escrowBag;
  if (record.wifiMacAddress !== undefined) dict.WiFiMACAddress = record.wifiMacAddress;
  return dict;
}

/** Binary plist, as libimobiledevice hands it to usbmuxd's SavePairRecord. */
export function encodePairRecord(record: PairRecord): Uint8Array {
  return encodeBinaryPlist(pairRecordToPlist(record));
}

export function decodePairRecord(bytes: Uint8Array): PairRecord {
  return pairRecordFromPlist(decodePlist(bytes));
}

const textBytes = (value: unknown): Uint8Array | undefined => {
  // Some tools write PEM as <string>; accept both.
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return new TextEncoder().encode(value);
  return undefined;
};

export function pairRecordFromPlist(value: unknown): PairRecord {
  if (!isPlistDict(value)) throw new PemError('the pair record is not a dictionary');
  const need = (key: string): Uint8Array => {
    const bytes = textBytes(value[key]);
    if (!bytes) throw new PemError(`the pair record has no ${key}`);
    return bytes;
  };
  const hostId = value.HostID;
  const systemBuid = value.SystemBUID;
  if (typeof hostId !== 'string') throw new PemError('the pair record has no HostID');
  if (typeof systemBuid !== 'string') throw new PemError('the pair record has no SystemBUID');
  const record: PairRecord = {
    hostId,
    systemBuid,
    rootCertificate: need('RootCertificate'),
    hostCertificate: need('HostCertificate'),
    deviceCertificate: need('DeviceCertificate'),
  };
  const rootKey = textBytes(value.RootPrivateKey);
  const hostKey = textBytes(value.HostPrivateKey);
  if (rootKey) record.rootPrivateKey = rootKey;
  if (hostKey) record.hostPrivateKey = hostKey;
  if (value.EscrowBag instanceof Uint8Array) record.escrowBag = value.EscrowBag;
  if (typeof value.WiFiMACAddress === 'string') record.wifiMacAddress = value.WiFiMACAddress;
  return record;
}

/** What goes into a Pair/ValidatePair/Unpair request: libimobiledevice's set, never private keys. */
export function pairRequestRecord(record: PairRecord): PlistDict {
  const dict: PlistDict = {
    DeviceCertificate: record.deviceCertificate,
    HostCertificate: record.hostCertificate,
    RootCertificate: record.rootCertificate,
    HostID: record.hostId,
    SystemBUID: record.systemBuid,
  };
  if (record.wifiMacAddress !== undefined) dict.WiFiMACAddress = record.wifiMacAddress;
  return dict;
}
