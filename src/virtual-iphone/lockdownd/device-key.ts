import { encodePem, spkiToPkcs1PublicKey } from '../../lockdown/pem.ts';

/** The device's own RSA key pair: what DevicePublicKey exposes and what signs its TLS handshakes. */
export interface DeviceKey {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** SubjectPublicKeyInfo DER, to recognise our key in a DeviceCertificate. */
  readonly spki: Uint8Array;
  /** PKCS#8 DER, for node:tls. */
  readonly pkcs8: Uint8Array;
  /** GetValue DevicePublicKey: PEM text of the PKCS#1 key, as plist data. */
  readonly devicePublicKeyPem: Uint8Array;
}

export async function generateDeviceKey(): Promise<DeviceKey> {
  const subtle = globalThis.crypto.subtle;
  const pair = (await subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  const spki = new Uint8Array(await subtle.exportKey('spki', pair.publicKey));
  const pkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
  return {
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    spki,
    pkcs8,
    devicePublicKeyPem: new TextEncoder().encode(encodePem('RSA PUBLIC KEY', spkiToPkcs1PublicKey(spki))),
  };
}

/** Rebuilds a device key remembered from an earlier run (the simulated phone keeps its identity across reloads). */
export async function importDeviceKey(pkcs8: Uint8Array, spki: Uint8Array): Promise<DeviceKey> {
  const subtle = globalThis.crypto.subtle;
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const privateKey = await subtle.importKey('pkcs8', pkcs8 as Uint8Array<ArrayBuffer>, algorithm, true, ['sign']);
  const publicKey = await subtle.importKey('spki', spki as Uint8Array<ArrayBuffer>, algorithm, true, ['verify']);
  return {
    privateKey,
    publicKey,
    spki,
    pkcs8,
    devicePublicKeyPem: new TextEncoder().encode(encodePem('RSA PUBLIC KEY', spkiToPkcs1PublicKey(spki))),
  };
}

let cached: Promise<DeviceKey> | undefined;

/**
 * One key per process: a 2048-bit RSA key takes ~0.1–1 s to generate, and tests build many
 * virtual iPhones. Devices that must differ can pass their own key.
 */
export function sharedDeviceKey(): Promise<DeviceKey> {
  cached ??= generateDeviceKey();
  return cached;
}
