import { openDB, type IDBPDatabase } from 'idb';
import * as x509 from '../lockdown/x509.ts';
import { BackupEncryption } from './encryption/backup-encryption.ts';
import { importDeviceKey, generateDeviceKey, type DeviceKey } from './lockdownd/device-key.ts';
import type { VirtualIPhone } from './virtual-iphone.ts';

/**
 * What a real iPhone keeps across a cable replug or a host reboot — its own key, the hosts it trusts,
 * its backup keybag — so the demo device in the browser keeps them across page reloads (IndexedDB).
 */
interface StoredHost {
  hostId: string;
  systemBuid: string;
  rootCertificateDer: Uint8Array;
  hostCertificateDer: Uint8Array;
  deviceCertificateDer: Uint8Array;
  escrowBag: Uint8Array;
}

interface Memory {
  devicePkcs8: Uint8Array;
  deviceSpki: Uint8Array;
  hosts: StoredHost[];
  encryption?: { keybag: Uint8Array; classKeys: [number, Uint8Array][] };
}

const STORE = 'memory';

export class VirtualIPhoneMemory {
  private lastSaved = '';

  private constructor(
    private readonly db: IDBPDatabase,
    private readonly key: string,
    private memory: Memory | undefined,
  ) {}

  static async open(udid: string, databaseName = 'lifeboat-virtual-iphone'): Promise<VirtualIPhoneMemory> {
    const db = await openDB(databaseName, 1, { upgrade: (d) => d.createObjectStore(STORE) });
    return new VirtualIPhoneMemory(db, udid, (await db.get(STORE, udid)) as Memory | undefined);
  }

  /** The remembered device key, or a new one (remembered at the next save). */
  async deviceKey(): Promise<DeviceKey> {
    return this.memory ? importDeviceKey(this.memory.devicePkcs8, this.memory.deviceSpki) : generateDeviceKey();
  }

  /** Puts the remembered trusted hosts and keybag back into a freshly built phone. */
  async restoreInto(iphone: VirtualIPhone): Promise<void> {
    if (!this.memory) return;
    for (const host of this.memory.hosts) {
      iphone.lockdownd.pairedHosts.set(host.hostId, {
        hostId: host.hostId,
        systemBuid: host.systemBuid,
        rootCertificate: new x509.X509Certificate(host.rootCertificateDer as Uint8Array<ArrayBuffer>),
        hostCertificate: new x509.X509Certificate(host.hostCertificateDer as Uint8Array<ArrayBuffer>),
        deviceCertificateDer: host.deviceCertificateDer,
        escrowBag: host.escrowBag,
      });
    }
    if (this.memory.encryption) {
      await iphone.backup.ready;
      iphone.backup.state.encryption = BackupEncryption.fromParts(this.memory.encryption.keybag, this.memory.encryption.classKeys);
      iphone.backup.state.setWillEncrypt(true);
    }
    this.lastSaved = this.signature(iphone);
  }

  /** Saves when what a phone remembers has changed since the last save. */
  async saveIfChanged(iphone: VirtualIPhone): Promise<void> {
    const signature = this.signature(iphone);
    if (signature === this.lastSaved) return;
    const key = await iphone.lockdownd.deviceKey;
    const encryption = iphone.backup.state.encryption?.parts();
    const memory: Memory = {
      devicePkcs8: key.pkcs8,
      deviceSpki: key.spki,
      hosts: [...iphone.lockdownd.pairedHosts.values()].map((h) => ({
        hostId: h.hostId,
        systemBuid: h.systemBuid,
        rootCertificateDer: new Uint8Array(h.rootCertificate.rawData),
        hostCertificateDer: new Uint8Array(h.hostCertificate.rawData),
        deviceCertificateDer: h.deviceCertificateDer,
        escrowBag: h.escrowBag,
      })),
      ...(encryption ? { encryption } : {}),
    };
    await this.db.put(STORE, memory, this.key);
    this.memory = memory;
    this.lastSaved = signature;
  }

  private signature(iphone: VirtualIPhone): string {
    const keybag = iphone.backup.state.encryption?.keybag;
    return JSON.stringify([[...iphone.lockdownd.pairedHosts.keys()].sort(), keybag ? Array.from(keybag.subarray(0, 16)) : null]);
  }
}
