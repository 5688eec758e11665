import { derChildren, derEncode, derInteger, derSequence, readDer } from './der.ts';
import { TlsError } from './errors.ts';
import { bs, concat } from './bytes.ts';

/** rsaEncryption OID 1.2.840.113549.1.1.1 with its NULL parameters, as an AlgorithmIdentifier. */
const RSA_ALGORITHM_ID = new Uint8Array([
  0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
]);
const RSA_OID = RSA_ALGORITHM_ID.subarray(4, 13);

export interface RsaPublicKey {
  n: bigint;
  e: bigint;
  /** Modulus length in bytes. */
  size: number;
}

export interface RsaPrivateKey extends RsaPublicKey {
  d: bigint;
  p: bigint;
  q: bigint;
  dp: bigint;
  dq: bigint;
  qi: bigint;
}

/** The SubjectPublicKeyInfo TLV of an X.509 certificate. */
export function spkiOfCertificate(cert: Uint8Array): Uint8Array {
  const [tbs] = derSequence(cert, 'certificate');
  if (!tbs || tbs.tag !== 0x30) throw new TlsError('malformed certificate: no TBSCertificate');
  const fields = derChildren(tbs.content);
  // version [0] is optional; then serial, signature, issuer, validity, subject, subjectPublicKeyInfo
  const start = fields[0]?.tag === 0xa0 ? 1 : 0;
  const spki = fields[start + 5];
  if (!spki || spki.tag !== 0x30) throw new TlsError('malformed certificate: no SubjectPublicKeyInfo');
  return spki.whole;
}

function isRsaAlgorithm(algorithm: Uint8Array): boolean {
  const [oid] = derChildren(algorithm);
  if (!oid || oid.tag !== 0x06 || oid.content.byteLength !== RSA_OID.byteLength) return false;
  return oid.content.every((b, i) => b === RSA_OID[i]);
}

export function rsaPublicKeyFromSpki(spki: Uint8Array): RsaPublicKey {
  const [alg, bits] = derSequence(spki, 'SubjectPublicKeyInfo');
  if (!alg || alg.tag !== 0x30 || !isRsaAlgorithm(alg.content)) throw new TlsError('the certificate key is not an RSA key');
  if (!bits || bits.tag !== 0x03 || bits.content[0] !== 0) throw new TlsError('malformed RSA public key');
  const [n, e] = derSequence(bits.content.subarray(1), 'RSAPublicKey');
  return sized(derInteger(n, 'modulus'), derInteger(e, 'exponent'));
}

function sized(n: bigint, e: bigint): RsaPublicKey {
  return { n, e, size: Math.ceil(n.toString(16).length / 2) };
}

/** PKCS#1 RSAPrivateKey from a PKCS#8 PrivateKeyInfo (or the PKCS#1 bytes themselves). */
function pkcs1FromPkcs8(der: Uint8Array): Uint8Array {
  const fields = derSequence(der, 'private key');
  if (fields[1]?.tag === 0x30) {
    if (!isRsaAlgorithm(fields[1].content)) throw new TlsError('the private key is not an RSA key');
    const octets = fields[2];
    if (!octets || octets.tag !== 0x04) throw new TlsError('malformed PKCS#8 private key');
    return octets.content;
  }
  return der;
}

export function rsaPrivateKeyFromPkcs8(der: Uint8Array): RsaPrivateKey {
  const f = derSequence(pkcs1FromPkcs8(der), 'RSAPrivateKey');
  if (f.length < 9) throw new TlsError('malformed RSA private key');
  const [n, e, d, p, q, dp, dq, qi] = f.slice(1, 9).map((el, i) => derInteger(el, `RSA key field ${i}`)) as [
    bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint,
  ];
  return { ...sized(n, e), d, p, q, dp, dq, qi };
}

/** Wraps PKCS#1 RSAPrivateKey bytes as PKCS#8 PrivateKeyInfo (WebCrypto only imports PKCS#8). */
export function wrapPkcs1InPkcs8(pkcs1: Uint8Array): Uint8Array {
  return derEncode(0x30, concat([new Uint8Array([0x02, 0x01, 0x00]), RSA_ALGORITHM_ID, derEncode(0x04, pkcs1)]));
}

/** Base64 body of the first PEM block with one of `labels`. */
export function pemToDer(pem: string, labels: string[]): { label: string; der: Uint8Array } {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!match || !labels.includes(match[1]!)) throw new TlsError(`expected a PEM block (${labels.join(' or ')})`);
  const text = match[2]!.replace(/\s+/g, '');
  let binary: string;
  try {
    binary = atob(text);
  } catch (cause) {
    throw new TlsError('the PEM block is not valid base64', { cause });
  }
  const der = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
  return { label: match[1]!, der };
}

/** PKCS#8 bytes of an RSA private key in PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY"). */
export function rsaPrivateKeyPemToPkcs8(pem: string): Uint8Array {
  const { label, der } = pemToDer(pem, ['RSA PRIVATE KEY', 'PRIVATE KEY']);
  const pkcs8 = label === 'RSA PRIVATE KEY' ? wrapPkcs1InPkcs8(der) : der;
  rsaPrivateKeyFromPkcs8(pkcs8); // validates it is RSA and well-formed
  return pkcs8;
}

/**
 * PKCS#1 or PKCS#8 PEM → an RSASSA-PKCS1-v1_5 signing key (SHA-256). Pair records hold either
 * format. `extractable` lets the TLS layer re-import the key for a peer that only accepts SHA-1/384.
 */
export async function importRsaPrivateKeyPem(pem: string, extractable = false): Promise<CryptoKey> {
  const pkcs8 = rsaPrivateKeyPemToPkcs8(pem);
  try {
    return await globalThis.crypto.subtle.importKey(
      'pkcs8',
      bs(pkcs8),
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      extractable,
      ['sign'],
    );
  } catch (cause) {
    throw new TlsError('the private key could not be imported', { cause });
  }
}

/** DER certificate(s) from PEM text (one or more CERTIFICATE blocks, in order). */
export function certificatesFromPem(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
  for (const m of pem.matchAll(re)) out.push(pemToDer(m[0], ['CERTIFICATE']).der);
  if (out.length === 0) throw new TlsError('no PEM certificate found');
  return out;
}

export { readDer };
