import type { ByteStream } from '../core/byte-stream.ts';
import { ByteReader, ByteWriter, equalConstantTime, randomBytes } from './bytes.ts';
import {
  DEFAULT_CIPHER_SUITES,
  NAMED_GROUPS,
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
  type CipherSuite,
  cipherSuiteById,
} from './cipher-suites.ts';
import { type TlsConnection, TlsSession } from './connection.ts';
import { Alert, TlsError, fatal } from './errors.ts';
import {
  ExtensionType,
  OFFERED_SIGNATURE_SCHEMES,
  type TlsHandshakeInfo,
  runHandshake,
  deriveSessionKeys,
  ecdhSharedSecret,
  encodeCertificateList,
  generateEcdh,
  leafSpki,
  parseCertificateList,
  parseSignatureSchemes,
  sign,
  signerFor,
  verifyData,
  verifySignature,
} from './handshake-common.ts';
import { HandshakeIO, HandshakeType } from './handshake-io.ts';
import { rsaPublicKeyFromSpki } from './keys.ts';
import { RecordLayer } from './record-layer.ts';
import { rsaEncryptPkcs1 } from './rsa.ts';

export interface TlsIdentity {
  /** DER certificates, leaf first. */
  certificateChain: Uint8Array[];
  /** RSASSA-PKCS1-v1_5 signing key; may be non-extractable. */
  privateKey: CryptoKey;
}

export interface TlsClientOptions {
  identity?: TlsIdentity;
  /** Suites to offer, in preference order (default: ECDHE-GCM, RSA-GCM, RSA-CBC). */
  cipherSuites?: number[];
  /** Diagnostics: called once the handshake completes. */
  onHandshake?(info: TlsHandshakeInfo): void;
}

interface ServerHelloResult {
  suite: CipherSuite;
  serverRandom: Uint8Array;
  extendedMasterSecret: boolean;
  secureRenegotiation: boolean;
}

interface CertificateRequest {
  signatureSchemes: number[];
  rsaAllowed: boolean;
}

/** TLS 1.2 client handshake over `stream`; resolves once Finished messages are exchanged. */
export function connectTls(stream: ByteStream, options: TlsClientOptions): Promise<TlsConnection> {
  return runHandshake(stream, (records) => clientHandshake(records, options));
}

async function clientHandshake(records: RecordLayer, options: TlsClientOptions): Promise<TlsConnection> {
  const io = new HandshakeIO(records);
  const offered = (options.cipherSuites ?? [...DEFAULT_CIPHER_SUITES]).filter((id) => cipherSuiteById(id));
  if (offered.length === 0) throw new TlsError('TLS: no supported cipher suite was configured');
  const offersEcdhe = offered.some((id) => cipherSuiteById(id)!.keyExchange === 'ecdhe_rsa');

  const clientRandom = randomBytes(32);
  await io.send(HandshakeType.clientHello, encodeClientHello(clientRandom, offered, offersEcdhe));
  await io.flush();

  const hello = parseServerHello((await io.next(HandshakeType.serverHello)).body, offered);
  records.lockVersion();
  const { suite, serverRandom } = hello;

  const peerCertificates = parseCertificateList((await io.next(HandshakeType.certificate)).body);
  if (peerCertificates.length === 0) throw fatal(Alert.badCertificate, 'the server sent no certificate');
  const serverSpki = leafSpki(peerCertificates);

  let serverEcdh: { group: number; point: Uint8Array } | undefined;
  if (suite.keyExchange === 'ecdhe_rsa') {
    const ske = (await io.next(HandshakeType.serverKeyExchange)).body;
    serverEcdh = await verifyServerKeyExchange(ske, serverSpki, clientRandom, serverRandom);
  }

  let next = await io.next(HandshakeType.certificateRequest, HandshakeType.serverHelloDone);
  let request: CertificateRequest | undefined;
  if (next.type === HandshakeType.certificateRequest) {
    request = parseCertificateRequest(next.body);
    next = await io.next(HandshakeType.serverHelloDone);
  }
  if (next.body.byteLength !== 0) throw fatal(Alert.decodeError, 'ServerHelloDone is not empty');
  io.assertNoPending();

  // --- our flight: [Certificate] ClientKeyExchange [CertificateVerify] ChangeCipherSpec Finished
  const identity = options.identity;
  const sendCertificate = request !== undefined && identity !== undefined && identity.certificateChain.length > 0;
  let signer;
  if (sendCertificate) {
    if (!request!.rsaAllowed) throw fatal(Alert.handshakeFailure, 'the server does not accept RSA client certificates');
    signer = await signerFor(identity!.privateKey, request!.signatureSchemes);
  }
  if (request) await io.send(HandshakeType.certificate, encodeCertificateList(sendCertificate ? identity!.certificateChain : []));

  let premaster: Uint8Array;
  let namedGroup: string | undefined;
  if (serverEcdh) {
    const own = await generateEcdh(serverEcdh.group);
    premaster = await ecdhSharedSecret(own, serverEcdh.point);
    namedGroup = NAMED_GROUPS.get(serverEcdh.group)!.name;
    await io.send(HandshakeType.clientKeyExchange, new ByteWriter().vector(1, (w) => w.bytes(own.publicPoint)).finish());
  } else {
    let key;
    try {
      key = rsaPublicKeyFromSpki(serverSpki);
    } catch (cause) {
      throw fatal(Alert.unsupportedCertificate, 'the server certificate has no RSA key for RSA key exchange', cause);
    }
    premaster = randomBytes(48);
    premaster[0] = 3;
    premaster[1] = 3;
    await io.send(HandshakeType.clientKeyExchange, new ByteWriter().vector(2, (w) => w.bytes(rsaEncryptPkcs1(key, premaster))).finish());
  }

  const sessionHash = hello.extendedMasterSecret ? await io.transcriptHash(suite.prfHash) : undefined;
  const keys = await deriveSessionKeys(suite, premaster, clientRandom, serverRandom, sessionHash);

  if (signer) {
    const signature = await sign(signer, io.transcriptBytes());
    await io.send(HandshakeType.certificateVerify, new ByteWriter().u16(signer.scheme).vector(2, (w) => w.bytes(signature)).finish());
  }

  await io.sendChangeCipherSpec();
  records.setWriteProtection(keys.client);
  const clientVerify = await verifyData(suite, keys.master, 'client finished', await io.transcriptHash(suite.prfHash));
  await io.send(HandshakeType.finished, clientVerify);
  await io.flush();

  await io.expectChangeCipherSpec();
  records.setReadProtection(keys.server);
  const expected = await verifyData(suite, keys.master, 'server finished', await io.transcriptHash(suite.prfHash));
  const finished = await io.next(HandshakeType.finished);
  if (!equalConstantTime(finished.body, expected)) throw fatal(Alert.decryptError, 'the server Finished message does not verify');
  io.assertNoPending();

  options.onHandshake?.({
    role: 'client',
    cipherSuite: suite.id,
    cipherSuiteName: suite.name,
    extendedMasterSecret: hello.extendedMasterSecret,
    secureRenegotiation: hello.secureRenegotiation,
    namedGroup,
    clientCertificateRequested: request !== undefined,
    clientCertificateSent: sendCertificate,
    peerCertificates,
  });
  return new TlsSession(records, suite.id, peerCertificates);
}

function encodeClientHello(random: Uint8Array, suites: number[], offersEcdhe: boolean): Uint8Array {
  const w = new ByteWriter().u16(0x0303).bytes(random);
  w.vector(1, () => undefined); // no session id: we never resume
  w.vector(2, (v) => [...suites, TLS_EMPTY_RENEGOTIATION_INFO_SCSV].forEach((s) => v.u16(s)));
  w.vector(1, (v) => v.u8(0));
  w.vector(2, (ext) => {
    if (offersEcdhe) {
      ext.u16(ExtensionType.supportedGroups).vector(2, (e) => e.vector(2, (l) => [...NAMED_GROUPS.keys()].forEach((g) => l.u16(g))));
      ext.u16(ExtensionType.ecPointFormats).vector(2, (e) => e.vector(1, (l) => l.u8(0)));
    }
    ext.u16(ExtensionType.signatureAlgorithms).vector(2, (e) => e.vector(2, (l) => OFFERED_SIGNATURE_SCHEMES.forEach((s) => l.u16(s))));
    ext.u16(ExtensionType.extendedMasterSecret).vector(2, () => undefined);
  });
  return w.finish();
}

function parseServerHello(body: Uint8Array, offered: number[]): ServerHelloResult {
  const r = new ByteReader(body, 'ServerHello');
  const version = r.u16();
  if (version !== 0x0303) throw fatal(Alert.protocolVersion, `the server chose version 0x${version.toString(16)}, not TLS 1.2`);
  const serverRandom = r.take(32).slice();
  const sessionId = r.vectorBytes(1);
  if (sessionId.byteLength > 32) throw fatal(Alert.illegalParameter, 'session id longer than 32 bytes');
  const suiteId = r.u16();
  if (!offered.includes(suiteId)) throw fatal(Alert.illegalParameter, `the server chose cipher suite 0x${suiteId.toString(16)}, which was not offered`);
  if (r.u8() !== 0) throw fatal(Alert.illegalParameter, 'the server chose compression');
  let extendedMasterSecret = false;
  let secureRenegotiation = false;
  if (r.remaining) {
    const exts = r.vector(2, 'ServerHello extensions');
    r.end();
    const seen = new Set<number>();
    while (exts.remaining) {
      const type = exts.u16();
      const data = exts.vector(2, 'extension');
      if (seen.has(type)) throw fatal(Alert.illegalParameter, `duplicate extension ${type}`);
      seen.add(type);
      switch (type) {
        case ExtensionType.renegotiationInfo:
          if (data.u8() !== 0) throw fatal(Alert.handshakeFailure, 'non-empty renegotiation_info in the initial handshake');
          data.end();
          secureRenegotiation = true;
          break;
        case ExtensionType.extendedMasterSecret:
          data.end();
          extendedMasterSecret = true;
          break;
        case ExtensionType.ecPointFormats: {
          const formats = data.vectorBytes(1);
          data.end();
          if (!formats.includes(0)) throw fatal(Alert.illegalParameter, 'the server does not accept uncompressed points');
          break;
        }
        default:
          throw fatal(Alert.unsupportedExtension, `the server sent extension ${type}, which was not offered`);
      }
    }
  }
  return { suite: cipherSuiteById(suiteId)!, serverRandom, extendedMasterSecret, secureRenegotiation };
}

async function verifyServerKeyExchange(
  body: Uint8Array,
  spki: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): Promise<{ group: number; point: Uint8Array }> {
  const r = new ByteReader(body, 'ServerKeyExchange');
  if (r.u8() !== 3) throw fatal(Alert.illegalParameter, 'ServerKeyExchange is not a named curve');
  const group = r.u16();
  if (!NAMED_GROUPS.has(group)) throw fatal(Alert.illegalParameter, `the server chose group 0x${group.toString(16)}, which was not offered`);
  const point = r.vectorBytes(1).slice();
  const params = body.subarray(0, 4 + point.byteLength);
  const scheme = r.u16();
  const signature = r.vectorBytes(2);
  r.end();
  const signed = new Uint8Array(64 + params.byteLength);
  signed.set(clientRandom);
  signed.set(serverRandom, 32);
  signed.set(params, 64);
  await verifySignature(spki, scheme, signature, signed, 'ServerKeyExchange');
  return { group, point };
}

function parseCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new ByteReader(body, 'CertificateRequest');
  const types = r.vectorBytes(1);
  if (types.byteLength === 0) throw fatal(Alert.decodeError, 'CertificateRequest lists no certificate types');
  const signatureSchemes = parseSignatureSchemes(r);
  const authorities = r.vector(2, 'certificate_authorities');
  while (authorities.remaining) {
    if (authorities.vectorBytes(2).byteLength === 0) throw fatal(Alert.decodeError, 'empty distinguished name');
  }
  r.end();
  return { signatureSchemes, rsaAllowed: types.includes(1) };
}
