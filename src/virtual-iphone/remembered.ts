import * as x509 from '../lockdown/x509.ts';
import { BackupEncryption } from './encryption/backup-encryption.ts';
import { importDeviceKey, type DeviceKey } from './lockdownd/device-key.ts';
import type { VirtualIPhone } from './virtual-iphone.ts';

/**
 * What a real iPhone keeps across a restart, a cable replug or a host reboot: its own key, the hosts
 * it trusts and its backup keybag. Stored by the browser demo (IndexedDB, memory.ts) and by
 * `npm run virtual-iphone -- --state DIR` (a file, node/device-state-file.ts).
 */
export interface RememberedHost {
  hostId: string;
  systemBuid: string;
  rootCertificateDer: Uint8Array;
  hostCertificateDer: Uint8Array;
  deviceCertificateDer: Uint8Array;
  escrowBag: Uint8Array;
}

export interface RememberedDevice {
  devicePkcs8: Uint8Array;
  deviceSpki: Uint8Array;
  hosts: RememberedHost[];
  encryption?: { keybag: Uint8Array; classKeys: [number, Uint8Array][] };
}

export function rememberedKey(memory: RememberedDevice): Promise<DeviceKey> {
  return importDeviceKey(memory.devicePkcs8, memory.deviceSpki);
}

/** What `iphone` would remember if it restarted now. */
export async function captureRemembered(iphone: VirtualIPhone): Promise<RememberedDevice> {
  const key = await iphone.lockdownd.deviceKey;
  const encryption = iphone.backup.state.encryption?.parts();
  return {
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
}

/** Puts the remembered trusted hosts and keybag back into a freshly built phone (built with the remembered key). */
export async function applyRemembered(iphone: VirtualIPhone, memory: RememberedDevice): Promise<void> {
  for (const host of memory.hosts) {
    iphone.lockdownd.pairedHosts.set(host.hostId, {
      hostId: host.hostId,
      systemBuid: host.systemBuid,
      rootCertificate: new x509.X509Certificate(host.rootCertificateDer as Uint8Array<ArrayBuffer>),
      hostCertificate: new x509.X509Certificate(host.hostCertificateDer as Uint8Array<ArrayBuffer>),
      deviceCertificateDer: host.deviceCertificateDer,
      escrowBag: host.escrowBag,
    });
  }
  if (memory.encryption) {
    await iphone.backup.ready;
    iphone.backup.state.encryption = BackupEncryption.fromParts(memory.encryption.keybag, memory.encryption.classKeys);
    iphone.backup.state.setWillEncrypt(true);
  }
}

/** Changes whenever what the phone remembers changes (cheap enough to poll). */
export function rememberedSignature(iphone: VirtualIPhone): string {
  const keybag = iphone.backup.state.encryption?.keybag;
  return JSON.stringify([[...iphone.lockdownd.pairedHosts.keys()].sort(), keybag ? Array.from(keybag.subarray(0, 16)) : null]);
}
