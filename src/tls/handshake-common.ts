import type { ByteStream } from '../core/byte-stream.ts';
import { ByteReader, ByteWriter, bs, concat } from './bytes.ts';
import { RecordLayer } from './record-layer.ts';
import type { CipherSuite } from './cipher-suites.ts';
import { NAMED_GROUPS, RSA_PKCS1_SIGNATURES, signatureSchemeFor } from './cipher-suites.ts';
import { Alert, TlsError, fatal } from './errors.ts';
import { spkiOfCertificate } from './keys.ts';
import { type HashName, prf } from './prf.ts';
import { type DirectionKeys, createRecordProtection } from './record-protection.ts';
import type { RecordProtection } from './record-protection.ts';

const subtle = () => globalThis.crypto.subtle;

export const ExtensionType = {
  serverName: 0x0000,
  supportedGroups: 0x000a,
  ecPointFormats: 0x000b,
  signatureAlgorithms: 0x000d,
  extendedMasterSecret: 0x0017,
  renegotiationInfo: 0xff01,
} as const;

/** Signature schemes we sign and verify with (rsa_pkcs1 only; see cipher-suites.ts). */
export const OFFERED_SIGNATURE_SCHEMES = [0x0401, 0x0501, 0x0601, 0x0201];

/** What the handshake settled on, for logs and diagnostics. */
export interface TlsHandshakeInfo {
  role: 'client' | 'server';
  cipherSuite: number;
  cipherSuiteName: string;
  /** RFC 7627 in use. */
  extendedMasterSecret: boolean;
  /** RFC 5746 indication exchanged. */
  secureRenegotiation: boolean;
  /** ECDHE group name, if ECDHE. */
  namedGroup: string | undefined;
  clientCertificateRequested: boolean;
  /** Certificates the client sent (its chain, leaf first). */
  clientCertificateSent: boolean;
  peerCertificates: Uint8Array[];
}

export interface SessionKeys {
  client: RecordProtection;
  server: RecordProtection;
  master: Uint8Array;
}

export async function deriveSessionKeys(
  suite: CipherSuite,
  premaster: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  sessionHash: Uint8Array | undefined,
): Promise<SessionKeys> {
  const master = sessionHash
    ? await prf(suite.prfHash, premaster, 'extended master secret', sessionHash, 48)
    : await prf(suite.prfHash, premaster, 'master secret', concat([clientRandom, serverRandom]), 48);
  const { macLength: m, keyLength: k, fixedIvLength: iv } = suite;
  const block = await prf(suite.prfHash, master, 'key expansion', concat([serverRandom, clientRandom]), 2 * (m + k + iv));
  let o = 0;
  const take = (n: number) => block.slice(o, (o += n));
  const clientMac = take(m);
  const serverMac = take(m);
  const clientKey = take(k);
  const serverKey = take(k);
  const clientIv = take(iv);
  const serverIv = take(iv);
  const keys = (key: Uint8Array, macKey: Uint8Array, fixedIv: Uint8Array): DirectionKeys => ({ key, macKey, fixedIv });
  return {
    client: await createRecordProtection(suite, keys(clientKey, clientMac, clientIv)),
    server: await createRecordProtection(suite, keys(serverKey, serverMac, serverIv)),
    master,
  };
}

export function verifyData(suite: CipherSuite, master: Uint8Array, label: 'client finished' | 'server finished', transcriptHash: Uint8Array): Promise<Uint8Array> {
  return prf(suite.prfHash, master, label, transcriptHash, 12);
}

// ---- certificates ----

export function encodeCertificateList(chain: Uint8Array[]): Uint8Array {
  return new ByteWriter().vector(3, (w) => chain.forEach((c) => w.vector(3, (x) => x.bytes(c)))).finish();
}

export function parseCertificateList(body: Uint8Array): Uint8Array[] {
  const r = new ByteReader(body, 'Certificate');
  const list = r.vector(3);
  r.end();
  const out: Uint8Array[] = [];
  while (list.remaining) {
    const cert = list.vectorBytes(3);
    if (cert.byteLength === 0) throw fatal(Alert.decodeError, 'empty certificate in the chain');
    out.push(cert.slice());
  }
  return out;
}

/** The leaf's SubjectPublicKeyInfo, or a bad_certificate alert. */
export function leafSpki(chain: Uint8Array[]): Uint8Array {
  try {
    return spkiOfCertificate(chain[0]!);
  } catch (cause) {
    throw fatal(Alert.badCertificate, 'the peer certificate could not be parsed', cause);
  }
}

// ---- signatures ----

export interface Signer {
  scheme: number;
  key: CryptoKey;
}

/**
 * A signing key for one of `allowed` schemes. WebCrypto binds the hash to the key, so we use the
 * key's own hash when the peer accepts it and re-import an extractable key otherwise.
 */
export async function signerFor(key: CryptoKey, allowed: number[] | undefined): Promise<Signer> {
  const algorithm = key.algorithm as RsaHashedKeyAlgorithm;
  if (algorithm.name !== 'RSASSA-PKCS1-v1_5') throw fatal(Alert.internalError, 'the private key must be an RSASSA-PKCS1-v1_5 key');
  const own = signatureSchemeFor(algorithm.hash.name as HashName);
  if (!allowed || allowed.includes(own)) return { scheme: own, key };
  const alternative = [0x0401, 0x0501, 0x0201, 0x0601].find((s) => allowed.includes(s));
  if (alternative === undefined || !key.extractable) {
    throw fatal(Alert.handshakeFailure, `the peer accepts no RSA signature we can make with this key (it wants ${allowed.map((s) => '0x' + s.toString(16)).join(', ')})`);
  }
  const pkcs8 = await subtle().exportKey('pkcs8', key);
  const hash = RSA_PKCS1_SIGNATURES.get(alternative)!;
  return { scheme: alternative, key: await subtle().importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['sign']) };
}

export async function sign(signer: Signer, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign('RSASSA-PKCS1-v1_5', signer.key, bs(data)));
}

/** Verifies an rsa_pkcs1 signature by the certificate key; decrypt_error if it doesn't hold. */
export async function verifySignature(spki: Uint8Array, scheme: number, signature: Uint8Array, data: Uint8Array, what: string): Promise<void> {
  const hash = RSA_PKCS1_SIGNATURES.get(scheme);
  if (!hash || !OFFERED_SIGNATURE_SCHEMES.includes(scheme)) throw fatal(Alert.illegalParameter, `${what} uses signature scheme 0x${scheme.toString(16)}, which was not offered`);
  let key: CryptoKey;
  try {
    key = await subtle().importKey('spki', bs(spki), { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['verify']);
  } catch (cause) {
    throw fatal(Alert.unsupportedCertificate, 'the peer certificate does not hold a usable RSA key', cause);
  }
  const ok = await subtle().verify('RSASSA-PKCS1-v1_5', key, bs(signature), bs(data));
  if (!ok) throw fatal(Alert.decryptError, `${what} signature does not verify`);
}

export function parseSignatureSchemes(r: ByteReader): number[] {
  const list = r.vector(2, 'signature_algorithms');
  if (list.remaining === 0 || list.remaining % 2) throw fatal(Alert.decodeError, 'malformed signature algorithm list');
  const out: number[] = [];
  while (list.remaining) out.push(list.u16());
  return out;
}

// ---- ECDHE ----

export interface EcdhKeyPair {
  group: number;
  privateKey: CryptoKey;
  publicPoint: Uint8Array;
}

export async function generateEcdh(group: number): Promise<EcdhKeyPair> {
  const g = NAMED_GROUPS.get(group)!;
  const pair = (await subtle().generateKey({ name: 'ECDH', namedCurve: g.name }, false, ['deriveBits'])) as CryptoKeyPair;
  const publicPoint = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
  return { group, privateKey: pair.privateKey, publicPoint };
}

/** The ECDH shared secret (x coordinate) with a peer's uncompressed point: the premaster secret. */
export async function ecdhSharedSecret(own: EcdhKeyPair, peerPoint: Uint8Array): Promise<Uint8Array> {
  const g = NAMED_GROUPS.get(own.group)!;
  if (peerPoint.byteLength !== g.pointLength || peerPoint[0] !== 4) throw fatal(Alert.illegalParameter, 'the peer ECDH point is not an uncompressed point on the group');
  let peer: CryptoKey;
  try {
    peer = await subtle().importKey('raw', bs(peerPoint), { name: 'ECDH', namedCurve: g.name }, false, []);
  } catch (cause) {
    throw fatal(Alert.illegalParameter, 'the peer ECDH point is not on the curve', cause);
  }
  const bits = g.pointLength === 65 ? 256 : 384;
  return new Uint8Array(await subtle().deriveBits({ name: 'ECDH', public: peer }, own.privateKey, bits));
}

/**
 * Runs one side's handshake on a fresh record layer. On failure the peer gets our fatal alert (unless the
 * failure was its alert), the stream is closed so nothing hangs, and the caller sees a TlsError.
 */
export async function runHandshake<T>(stream: ByteStream, handshake: (records: RecordLayer) => Promise<T>): Promise<T> {
  const records = new RecordLayer(stream);
  try {
    return await handshake(records);
  } catch (error) {
    const failure = asTlsError(error);
    if (failure.alert !== undefined && !failure.fromPeer) await records.sendAlert(2, failure.alert).catch(() => undefined);
    await stream.close().catch(() => undefined);
    throw failure;
  }
}

/** Wraps anything thrown in a handshake as a TlsError (WebCrypto failures become internal_error). */
export function asTlsError(error: unknown): TlsError {
  if (error instanceof TlsError) return error;
  return fatal(Alert.internalError, `handshake failed: ${error instanceof Error ? error.message : String(error)}`, error);
}
