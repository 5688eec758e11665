import * as x509 from './x509.ts';
import { devicePublicKeyToSpki, encodePem } from './pem.ts';

/**
 * The three certificates a host hands the device at Pair, to the profile libimobiledevice and
 * pymobiledevice3 emit: empty names, serial 1, a CA root that signs a host and a device leaf,
 * sha256WithRSA, valid from a minute ago (device clocks drift) for ten years.
 */

export const RSA_SIGNING_ALGORITHM: RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};

const SIGNING_ALGORITHM: Algorithm & { hash: string } = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
const TEN_YEARS_MS = 10 * 365.25 * 24 * 3600 * 1000;
const KEY_USAGE = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;

/** RSA-2048 for signing; `extractable` false keeps the private key inside WebCrypto for good. */
export async function generateRsaKeyPair(extractable: boolean): Promise<CryptoKeyPair> {
  return (await globalThis.crypto.subtle.generateKey(RSA_SIGNING_ALGORITHM, extractable, ['sign', 'verify'])) as CryptoKeyPair;
}

export interface PairingCertificates {
  root: x509.X509Certificate;
  host: x509.X509Certificate;
  device: x509.X509Certificate;
}

export interface BuildCertificatesInput {
  /** GetValue DevicePublicKey: PEM text, normally PKCS#1 `RSA PUBLIC KEY`. */
  devicePublicKey: string | Uint8Array;
  rootKeys: CryptoKeyPair;
  hostKeys: CryptoKeyPair;
  now?: Date;
}

export async function buildPairingCertificates(input: BuildCertificatesInput): Promise<PairingCertificates> {
  const now = input.now ?? new Date();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + TEN_YEARS_MS);
  const common = { serialNumber: '01', subject: '', issuer: '', notBefore, notAfter, signingAlgorithm: SIGNING_ALGORITHM, signingKey: input.rootKeys.privateKey };

  const root = await x509.X509CertificateGenerator.create({
    ...common,
    publicKey: input.rootKeys.publicKey,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const host = await x509.X509CertificateGenerator.create({
    ...common,
    publicKey: input.hostKeys.publicKey,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(KEY_USAGE, true)],
  });
  const deviceKey = await importSpkiPublicKey(devicePublicKeyToSpki(input.devicePublicKey));
  const device = await x509.X509CertificateGenerator.create({
    ...common,
    publicKey: deviceKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(KEY_USAGE, true),
      await x509.SubjectKeyIdentifierExtension.create(deviceKey),
    ],
  });
  return { root, host, device };
}

export function importSpkiPublicKey(spki: Uint8Array): Promise<CryptoKey> {
  return globalThis.crypto.subtle.importKey('spki', spki as Uint8Array<ArrayBuffer>, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
}

export function certificatePem(cert: x509.X509Certificate): string {
  return encodePem('CERTIFICATE', new Uint8Array(cert.rawData));
}

export { exportPrivateKeyPem } from './pem.ts';

/** Random uppercase UUID (HostID, SystemBUID format). */
export function randomUuid(): string {
  return globalThis.crypto.randomUUID().toUpperCase();
}
