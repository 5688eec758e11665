import type { PairRecordSource } from '../usbmux/device-connector.ts';
import { importRsaPrivateKeyPem } from '../tls/index.ts';
import { decodePem, exportPrivateKeyPem } from './pem.ts';
import { decodePairRecord, encodePairRecord, type PairRecord } from './pair-record.ts';

/** Everything a host needs to talk to a device it has paired with. */
export interface PairingIdentity {
  /** Certificates (PEM), HostID, SystemBUID, EscrowBag. Private keys only if the store keeps PEM. */
  readonly record: PairRecord;
  /** The key the host proves itself with in TLS (client certificate = HostCertificate). */
  readonly hostPrivateKey: CryptoKey;
  readonly hostCertificateDer: Uint8Array;
}

/** A fresh pairing, just accepted by the device. */
export interface NewPairing {
  /** Without private keys. */
  readonly record: PairRecord;
  readonly rootKeys: CryptoKeyPair;
  readonly hostKeys: CryptoKeyPair;
}

/**
 * Where this host keeps its pairings. usbmuxd in Node (shared with libimobiledevice), IndexedDB
 * in the browser (private keys never leave WebCrypto).
 */
export interface PairingStore {
  /** True when save() must write PEM private keys, so pairing must generate extractable keys. */
  readonly needsExtractableKeys: boolean;
  /** This host's persistent SystemBUID. */
  systemBuid(): Promise<string>;
  load(udid: string): Promise<PairingIdentity | null>;
  save(udid: string, pairing: NewPairing): Promise<PairingIdentity>;
  remove(udid: string): Promise<void>;
}

async function identityFromRecord(record: PairRecord, hostPrivateKey?: CryptoKey): Promise<PairingIdentity> {
  const key = hostPrivateKey ?? (await importRsaPrivateKeyPem(new TextDecoder().decode(record.hostPrivateKey!), true));
  return { record, hostPrivateKey: key, hostCertificateDer: decodePem(record.hostCertificate).der };
}

/**
 * Pair records in libimobiledevice's format through usbmuxd's ReadPairRecord/SavePairRecord, so
 * the CLI reuses a pairing the system (or idevicepair) already made, and vice versa.
 */
export class UsbmuxdPairingStore implements PairingStore {
  readonly needsExtractableKeys = true;

  constructor(private readonly source: PairRecordSource) {}

  systemBuid(): Promise<string> {
    return this.source.readBuid();
  }

  async load(udid: string): Promise<PairingIdentity | null> {
    const bytes = await this.source.readPairRecord(udid);
    if (!bytes) return null;
    const record = decodePairRecord(bytes);
    if (!record.hostPrivateKey) return null;
    return identityFromRecord(record);
  }

  async save(udid: string, pairing: NewPairing): Promise<PairingIdentity> {
    const encoder = new TextEncoder();
    const record: PairRecord = {
      ...pairing.record,
      hostPrivateKey: encoder.encode(await exportPrivateKeyPem(pairing.hostKeys.privateKey)),
      rootPrivateKey: encoder.encode(await exportPrivateKeyPem(pairing.rootKeys.privateKey)),
    };
    await this.source.savePairRecord(udid, encodePairRecord(record));
    return identityFromRecord(record, pairing.hostKeys.privateKey);
  }

  remove(udid: string): Promise<void> {
    return this.source.deletePairRecord(udid);
  }
}

/** One device's pairing as the browser keeps it: PEM certificates, a non-extractable host key. */
export interface StoredPairing {
  udid: string;
  hostId: string;
  systemBuid: string;
  rootCertificate: Uint8Array;
  hostCertificate: Uint8Array;
  deviceCertificate: Uint8Array;
  hostPrivateKey: CryptoKey;
  escrowBag?: Uint8Array;
  wifiMacAddress?: string;
  pairedAt: Date;
}

/** The persistence a KeyValuePairingStore needs; IndexedDB in the browser, a Map in tests. */
export interface PairingDatabase {
  getPairing(udid: string): Promise<StoredPairing | undefined>;
  putPairing(pairing: StoredPairing): Promise<void>;
  deletePairing(udid: string): Promise<void>;
  getSetting(name: string): Promise<string | undefined>;
  putSetting(name: string, value: string): Promise<void>;
}

/**
 * Browser pairings: the host key is generated non-extractable and stored as a CryptoKey; the root
 * key is used once to sign the certificates and then dropped (the device never needs it again,
 * and re-pairing makes a new one). SystemBUID is generated once and kept.
 */
export class KeyValuePairingStore implements PairingStore {
  readonly needsExtractableKeys = false;

  constructor(private readonly db: PairingDatabase) {}

  async systemBuid(): Promise<string> {
    const existing = await this.db.getSetting('SystemBUID');
    if (existing) return existing;
    const buid = globalThis.crypto.randomUUID().toUpperCase();
    await this.db.putSetting('SystemBUID', buid);
    return buid;
  }

  async load(udid: string): Promise<PairingIdentity | null> {
    const stored = await this.db.getPairing(udid);
    if (!stored) return null;
    const record: PairRecord = {
      hostId: stored.hostId,
      systemBuid: stored.systemBuid,
      rootCertificate: stored.rootCertificate,
      hostCertificate: stored.hostCertificate,
      deviceCertificate: stored.deviceCertificate,
    };
    if (stored.escrowBag) record.escrowBag = stored.escrowBag;
    if (stored.wifiMacAddress !== undefined) record.wifiMacAddress = stored.wifiMacAddress;
    return identityFromRecord(record, stored.hostPrivateKey);
  }

  async save(udid: string, pairing: NewPairing): Promise<PairingIdentity> {
    const { record } = pairing;
    const stored: StoredPairing = {
      udid,
      hostId: record.hostId,
      systemBuid: record.systemBuid,
      rootCertificate: record.rootCertificate,
      hostCertificate: record.hostCertificate,
      deviceCertificate: record.deviceCertificate,
      hostPrivateKey: pairing.hostKeys.privateKey,
      pairedAt: new Date(),
    };
    if (record.escrowBag) stored.escrowBag = record.escrowBag;
    if (record.wifiMacAddress !== undefined) stored.wifiMacAddress = record.wifiMacAddress;
    await this.db.putPairing(stored);
    const { rootPrivateKey: _r, hostPrivateKey: _h, ...withoutKeys } = record;
    return identityFromRecord(withoutKeys, pairing.hostKeys.privateKey);
  }

  remove(udid: string): Promise<void> {
    return this.db.deletePairing(udid);
  }
}

/** In-memory PairingDatabase (tests, and a fallback when IndexedDB is unavailable). */
export class MemoryPairingDatabase implements PairingDatabase {
  private readonly pairings = new Map<string, StoredPairing>();
  private readonly settings = new Map<string, string>();

  async getPairing(udid: string): Promise<StoredPairing | undefined> {
    return this.pairings.get(udid);
  }
  async putPairing(pairing: StoredPairing): Promise<void> {
    this.pairings.set(pairing.udid, pairing);
  }
  async deletePairing(udid: string): Promise<void> {
    this.pairings.delete(udid);
  }
  async getSetting(name: string): Promise<string | undefined> {
    return this.settings.get(name);
  }
  async putSetting(name: string, value: string): Promise<void> {
    this.settings.set(name, value);
  }
}
