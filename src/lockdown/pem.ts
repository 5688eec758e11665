import { LifeboatError } from '../core/errors.ts';

/**
 * PEM text and the few DER shapes pairing needs: lockdown carries certificates and keys as PEM
 * text inside plist data, and the device's public key arrives as PKCS#1 which WebCrypto cannot
 * import until it is wrapped in a SubjectPublicKeyInfo.
 */

export class PemError extends LifeboatError {
  constructor(message: string) {
    super('pairing-invalid', `Pair record: ${message}`, {
      action: 'Forget this device in Lifeboat, then connect it again and tap Trust.',
    });
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function encodePem(label: string, der: Uint8Array): string {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

/** The first PEM block in `text` (bytes or string). */
export function decodePem(text: string | Uint8Array): PemBlock {
  const str = typeof text === 'string' ? text : new TextDecoder().decode(text);
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(str);
  if (!m) throw new PemError('expected PEM text (-----BEGIN …-----)');
  try {
    return { label: m[1]!, der: fromBase64(m[2]!.replace(/\s+/g, '')) };
  } catch {
    throw new PemError(`the ${m[1]} block is not valid base64`);
  }
}

export const pemBytes = (label: string, der: Uint8Array): Uint8Array => new TextEncoder().encode(encodePem(label, der));

// --- minimal DER -------------------------------------------------------------

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n >>>= 8;
  }
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function derTlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((s, p) => s + p.length, 0);
  const header = derLength(length);
  const out = new Uint8Array(1 + header.length + length);
  out[0] = tag;
  out.set(header, 1);
  let offset = 1 + header.length;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

interface DerElement {
  tag: number;
  /** Content bytes. */
  value: Uint8Array;
  /** Offset just past this element in the input. */
  end: number;
}

export function readDer(bytes: Uint8Array, offset = 0): DerElement {
  if (offset + 2 > bytes.length) throw new PemError('truncated DER');
  const tag = bytes[offset]!;
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > bytes.length) throw new PemError('bad DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    start += count;
  }
  if (start + length > bytes.length) throw new PemError('truncated DER');
  return { tag, value: bytes.subarray(start, start + length), end: start + length };
}

// rsaEncryption OID 1.2.840.113549.1.1.1 with NULL parameters.
const RSA_ALGORITHM_IDENTIFIER = Uint8Array.of(0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00);

/** PKCS#1 RSAPublicKey DER → SubjectPublicKeyInfo DER. */
export function pkcs1PublicKeyToSpki(pkcs1: Uint8Array): Uint8Array {
  return derTlv(0x30, RSA_ALGORITHM_IDENTIFIER, derTlv(0x03, Uint8Array.of(0), pkcs1));
}

/** SubjectPublicKeyInfo DER → PKCS#1 RSAPublicKey DER (what DevicePublicKey carries). */
export function spkiToPkcs1PublicKey(spki: Uint8Array): Uint8Array {
  const outer = readDer(spki);
  if (outer.tag !== 0x30) throw new PemError('SubjectPublicKeyInfo is not a SEQUENCE');
  const algorithm = readDer(outer.value);
  const bitString = readDer(outer.value, algorithm.end);
  if (bitString.tag !== 0x03 || bitString.value[0] !== 0) throw new PemError('SubjectPublicKeyInfo has no key bit string');
  return bitString.value.subarray(1);
}

// PrivateKeyInfo version 0 + rsaEncryption, wrapping a PKCS#1 RSAPrivateKey.
export function pkcs1PrivateKeyToPkcs8(pkcs1: Uint8Array): Uint8Array {
  return derTlv(0x30, Uint8Array.of(0x02, 0x01, 0x00), RSA_ALGORITHM_IDENTIFIER, derTlv(0x04, pkcs1));
}

/** DevicePublicKey (PEM text, PKCS#1 or SPKI) → SPKI DER. */
export function devicePublicKeyToSpki(pem: string | Uint8Array): Uint8Array {
  const block = decodePem(pem);
  if (block.label === 'RSA PUBLIC KEY') return pkcs1PublicKeyToSpki(block.der);
  if (block.label === 'PUBLIC KEY') return block.der;
  throw new PemError(`unexpected device public key type ${block.label}`);
}

/**
 * A private key in any PEM form libimobiledevice-compatible tools write (PKCS#8 `PRIVATE KEY`
 * or PKCS#1 `RSA PRIVATE KEY`) → PKCS#8 DER for WebCrypto.
 */
export function privateKeyPemToPkcs8(pem: string | Uint8Array): Uint8Array {
  const block = decodePem(pem);
  if (block.label === 'PRIVATE KEY') return block.der;
  if (block.label === 'RSA PRIVATE KEY') return pkcs1PrivateKeyToPkcs8(block.der);
  throw new PemError(`unsupported private key type ${block.label}`);
}

/** A private key as PKCS#8 PEM, the form pair records keep it in. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return encodePem('PRIVATE KEY', new Uint8Array(await globalThis.crypto.subtle.exportKey('pkcs8', key)));
}
