import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePlist, encodeBinaryPlist, isPlistDict, type PlistDict, type PlistValue } from '../../plist/index.ts';
import { generateDeviceKey, type DeviceKey } from '../lockdownd/device-key.ts';
import { applyRemembered, captureRemembered, rememberedKey, rememberedSignature, type RememberedDevice, type RememberedHost } from '../remembered.ts';
import type { VirtualIPhone } from '../virtual-iphone.ts';

/**
 * `--state DIR` for the device side: the phone's key, the hosts it trusts and its backup keybag in
 * DIR/virtual-iphone-<UDID>.plist, so a restarted virtual iPhone still trusts the computers it
 * trusted (a real phone does). The host side (SystemBUID, pair records) lives next to it.
 */
export class DeviceStateFile {
  private lastSaved = '';

  private constructor(
    private readonly path: string,
    private readonly memory: RememberedDevice | undefined,
  ) {}

  static open(dir: string, udid: string): DeviceStateFile {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `virtual-iphone-${udid}.plist`);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch {
      return new DeviceStateFile(path, undefined);
    }
    const memory = parseRemembered(decodePlist(bytes));
    if (!memory) throw new Error(`${path} is not a virtual iPhone state file; move it away to start afresh`);
    return new DeviceStateFile(path, memory);
  }

  /** The remembered key, or a new one for a phone seen for the first time. */
  deviceKey(): Promise<DeviceKey> {
    return this.memory ? rememberedKey(this.memory) : generateDeviceKey();
  }

  async restoreInto(iphone: VirtualIPhone): Promise<void> {
    if (this.memory) await applyRemembered(iphone, this.memory);
    this.lastSaved = this.memory ? rememberedSignature(iphone) : '';
  }

  /** Writes the file (atomically) when what the phone remembers changed since the last write. */
  async saveIfChanged(iphone: VirtualIPhone): Promise<void> {
    const signature = rememberedSignature(iphone);
    if (signature === this.lastSaved) return;
    const memory = await captureRemembered(iphone);
    const dict: PlistDict = {
      DevicePKCS8: memory.devicePkcs8,
      DeviceSPKI: memory.deviceSpki,
      TrustedHosts: memory.hosts.map((h) => ({ ...h })),
      ...(memory.encryption ? { Encryption: { Keybag: memory.encryption.keybag, ClassKeys: memory.encryption.classKeys } } : {}),
    };
    writeFileSync(`${this.path}.tmp`, encodeBinaryPlist(dict));
    renameSync(`${this.path}.tmp`, this.path);
    this.lastSaved = signature;
  }
}

function parseRemembered(value: PlistValue): RememberedDevice | undefined {
  if (!isPlistDict(value)) return undefined;
  const { DevicePKCS8: pkcs8, DeviceSPKI: spki, TrustedHosts: hosts, Encryption: encryption } = value;
  if (!(pkcs8 instanceof Uint8Array) || !(spki instanceof Uint8Array) || !Array.isArray(hosts)) return undefined;
  const parsedHosts: RememberedHost[] = [];
  for (const h of hosts) {
    if (!isPlistDict(h)) return undefined;
    const { hostId, systemBuid, rootCertificateDer, hostCertificateDer, deviceCertificateDer, escrowBag } = h;
    if (typeof hostId !== 'string' || typeof systemBuid !== 'string') return undefined;
    if (![rootCertificateDer, hostCertificateDer, deviceCertificateDer, escrowBag].every((b) => b instanceof Uint8Array)) return undefined;
    parsedHosts.push({ hostId, systemBuid, rootCertificateDer, hostCertificateDer, deviceCertificateDer, escrowBag } as RememberedHost);
  }
  const memory: RememberedDevice = { devicePkcs8: pkcs8, deviceSpki: spki, hosts: parsedHosts };
  if (isPlistDict(encryption) && encryption['Keybag'] instanceof Uint8Array && Array.isArray(encryption['ClassKeys'])) {
    const classKeys: [number, Uint8Array][] = [];
    for (const pair of encryption['ClassKeys']) {
      if (!Array.isArray(pair) || !(pair[1] instanceof Uint8Array)) return undefined;
      classKeys.push([Number(pair[0]), pair[1]]);
    }
    memory.encryption = { keybag: encryption['Keybag'], classKeys };
  }
  return memory;
}
