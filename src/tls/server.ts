import type { ByteStream } from '../core/byte-stream.ts';
import { ByteReader, ByteWriter, equalConstantTime, randomBytes } from './bytes.ts';
import { DEFAULT_CIPHER_SUITES, NAMED_GROUPS, TLS_EMPTY_RENEGOTIATION_INFO_SCSV, type CipherSuite, cipherSuiteById } from './cipher-suites.ts';
import type { TlsIdentity } from './client.ts';
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
import { type RsaPrivateKey, rsaPrivateKeyFromPkcs8 } from './keys.ts';
import { RecordLayer } from './record-layer.ts';
import { rsaDecryptPremaster } from './rsa.ts';

export interface TlsServerOptions {
  identity: TlsIdentity;
  /** PKCS#8 bytes of the identity key: needed only to offer RSA key exchange suites. */
  rsaPrivateKeyPkcs8?: Uint8Array;
  /** Ask for a client certificate; when set, a client that sends none is refused. */
  requestClientCertificate?: boolean;
  /** Called with the client's chain (leaf first) after it proved possession of the key. */
  verifyClientCertificate?(chain: Uint8Array[]): boolean | Promise<boolean>;
  /** Suites we accept, in our preference order. */
  cipherSuites?: number[];
  /** Diagnostics: called once the handshake completes. */
  onHandshake?(info: TlsHandshakeInfo): void;
}

interface ClientHello {
  version: number;
  random: Uint8Array;
  suites: number[];
  groups: number[] | undefined;
  pointFormats: Uint8Array | undefined;
  signatureSchemes: number[] | undefined;
  extendedMasterSecret: boolean;
  secureRenegotiation: boolean;
}

/** TLS 1.2 server handshake over `stream`; resolves once Finished messages are exchanged. */
export function acceptTls(stream: ByteStream, options: TlsServerOptions): Promise<TlsConnection> {
  return runHandshake(stream, (records) => serverHandshake(records, options));
}

async function serverHandshake(records: RecordLayer, options: TlsServerOptions): Promise<TlsConnection> {
  const io = new HandshakeIO(records);
  const rsaKey = options.rsaPrivateKeyPkcs8 ? rsaPrivateKeyFromPkcs8(options.rsaPrivateKeyPkcs8) : undefined;
  const hello = parseClientHello((await io.next(HandshakeType.clientHello)).body);
  io.assertNoPending();
  records.lockVersion();
  const { suite, group } = chooseSuite(hello, options.cipherSuites ?? [...DEFAULT_CIPHER_SUITES], rsaKey !== undefined);

  const serverRandom = randomBytes(32);
  await io.send(HandshakeType.serverHello, encodeServerHello(serverRandom, suite, hello));
  await io.send(HandshakeType.certificate, encodeCertificateList(options.identity.certificateChain));

  let ecdh;
  if (group !== undefined) {
    ecdh = await generateEcdh(group);
    const params = new ByteWriter().u8(3).u16(group).vector(1, (w) => w.bytes(ecdh!.publicPoint)).finish();
    const signer = await signerFor(options.identity.privateKey, hello.signatureSchemes);
    const signed = new Uint8Array(64 + params.byteLength);
    signed.set(hello.random);
    signed.set(serverRandom, 32);
    signed.set(params, 64);
    const signature = await sign(signer, signed);
    await io.send(
      HandshakeType.serverKeyExchange,
      new ByteWriter().bytes(params).u16(signer.scheme).vector(2, (w) => w.bytes(signature)).finish(),
    );
  }
  const requestCertificate = options.requestClientCertificate === true;
  if (requestCertificate) {
    const request = new ByteWriter()
      .vector(1, (w) => w.u8(1)) // rsa_sign
      .vector(2, (w) => OFFERED_SIGNATURE_SCHEMES.forEach((s) => w.u16(s)))
      .vector(2, () => undefined) // any authority
      .finish();
    await io.send(HandshakeType.certificateRequest, request);
  }
  await io.send(HandshakeType.serverHelloDone, new Uint8Array(0));
  await io.flush();

  // --- the client's flight
  let clientChain: Uint8Array[] = [];
  if (requestCertificate) {
    clientChain = parseCertificateList((await io.next(HandshakeType.certificate)).body);
    if (clientChain.length === 0) throw fatal(Alert.handshakeFailure, 'the client sent no certificate');
  }
  const clientSpki = clientChain.length ? leafSpki(clientChain) : undefined;

  const kx = new ByteReader((await io.next(HandshakeType.clientKeyExchange)).body, 'ClientKeyExchange');
  let premaster: Uint8Array;
  if (ecdh) {
    const point = kx.vectorBytes(1);
    kx.end();
    premaster = await ecdhSharedSecret(ecdh, point);
  } else {
    const encrypted = kx.vectorBytes(2);
    kx.end();
    premaster = rsaDecryptPremaster(rsaKey!, encrypted, hello.version);
  }
  const sessionHash = hello.extendedMasterSecret ? await io.transcriptHash(suite.prfHash) : undefined;
  const keys = await deriveSessionKeys(suite, premaster, hello.random, serverRandom, sessionHash);

  if (clientSpki) {
    const signedTranscript = io.transcriptBytes();
    const cv = new ByteReader((await io.next(HandshakeType.certificateVerify)).body, 'CertificateVerify');
    const scheme = cv.u16();
    const signature = cv.vectorBytes(2);
    cv.end();
    await verifySignature(clientSpki, scheme, signature, signedTranscript, 'CertificateVerify');
    if (options.verifyClientCertificate && !(await options.verifyClientCertificate(clientChain))) {
      throw fatal(Alert.badCertificate, 'the client certificate was refused');
    }
  }

  const expected = await verifyData(suite, keys.master, 'client finished', await io.transcriptHash(suite.prfHash));
  io.assertNoPending();
  await io.expectChangeCipherSpec();
  records.setReadProtection(keys.client);
  const finished = await io.next(HandshakeType.finished);
  if (!equalConstantTime(finished.body, expected)) throw fatal(Alert.decryptError, 'the client Finished message does not verify');
  io.assertNoPending();

  await io.sendChangeCipherSpec();
  records.setWriteProtection(keys.server);
  await io.send(HandshakeType.finished, await verifyData(suite, keys.master, 'server finished', await io.transcriptHash(suite.prfHash)));
  await io.flush();

  options.onHandshake?.({
    role: 'server',
    cipherSuite: suite.id,
    cipherSuiteName: suite.name,
    extendedMasterSecret: hello.extendedMasterSecret,
    secureRenegotiation: hello.secureRenegotiation,
    namedGroup: group === undefined ? undefined : NAMED_GROUPS.get(group)!.name,
    clientCertificateRequested: requestCertificate,
    clientCertificateSent: clientChain.length > 0,
    peerCertificates: clientChain,
  });
  return new TlsSession(records, suite.id, clientChain);
}

function parseClientHello(body: Uint8Array): ClientHello {
  const r = new ByteReader(body, 'ClientHello');
  const version = r.u16();
  if (version < 0x0303 || version >> 8 !== 3) throw fatal(Alert.protocolVersion, `the client offers at most version 0x${version.toString(16)}; TLS 1.2 is required`);
  const random = r.take(32).slice();
  if (r.vectorBytes(1).byteLength > 32) throw fatal(Alert.illegalParameter, 'session id longer than 32 bytes');
  const suiteBytes = r.vector(2, 'cipher_suites');
  if (suiteBytes.remaining === 0 || suiteBytes.remaining % 2) throw fatal(Alert.decodeError, 'malformed cipher suite list');
  const suites: number[] = [];
  while (suiteBytes.remaining) suites.push(suiteBytes.u16());
  if (!r.vectorBytes(1).includes(0)) throw fatal(Alert.illegalParameter, 'the client does not offer null compression');
  const hello: ClientHello = {
    version: 0x0303,
    random,
    suites,
    groups: undefined,
    pointFormats: undefined,
    signatureSchemes: undefined,
    extendedMasterSecret: false,
    secureRenegotiation: suites.includes(TLS_EMPTY_RENEGOTIATION_INFO_SCSV),
  };
  // RSA premaster carries the version the client offered (RFC 5246 §7.4.7.1)
  hello.version = version;
  if (!r.remaining) return hello;
  const exts = r.vector(2, 'ClientHello extensions');
  r.end();
  const seen = new Set<number>();
  while (exts.remaining) {
    const type = exts.u16();
    const data = exts.vector(2, 'extension');
    if (seen.has(type)) throw fatal(Alert.illegalParameter, `duplicate extension ${type}`);
    seen.add(type);
    switch (type) {
      case ExtensionType.supportedGroups: {
        const list = data.vector(2, 'supported_groups');
        data.end();
        if (list.remaining % 2) throw fatal(Alert.decodeError, 'malformed supported_groups');
        hello.groups = [];
        while (list.remaining) hello.groups.push(list.u16());
        break;
      }
      case ExtensionType.ecPointFormats:
        hello.pointFormats = data.vectorBytes(1);
        data.end();
        break;
      case ExtensionType.signatureAlgorithms:
        hello.signatureSchemes = parseSignatureSchemes(data);
        data.end();
        break;
      case ExtensionType.extendedMasterSecret:
        data.end();
        hello.extendedMasterSecret = true;
        break;
      case ExtensionType.renegotiationInfo:
        if (data.u8() !== 0) throw fatal(Alert.handshakeFailure, 'non-empty renegotiation_info in the initial handshake');
        data.end();
        hello.secureRenegotiation = true;
        break;
      default:
        break; // extensions we don't implement are ignored, as RFC 5246 §7.4.1.4 requires
    }
  }
  return hello;
}

function chooseSuite(hello: ClientHello, ours: number[], haveRsaKey: boolean): { suite: CipherSuite; group: number | undefined } {
  // no supported_groups from the client means it accepts the common default, secp256r1 (RFC 8422 §4)
  const groups = hello.groups ?? [0x0017];
  const group = [0x0017, 0x0018].find((g) => groups.includes(g));
  const uncompressed = hello.pointFormats === undefined || hello.pointFormats.includes(0);
  for (const id of ours) {
    const suite = cipherSuiteById(id);
    if (!suite || !hello.suites.includes(id)) continue;
    if (suite.keyExchange === 'ecdhe_rsa' && group !== undefined && uncompressed) return { suite, group };
    if (suite.keyExchange === 'rsa' && haveRsaKey) return { suite, group: undefined };
  }
  throw fatal(Alert.handshakeFailure, 'no cipher suite in common with the client');
}

function encodeServerHello(random: Uint8Array, suite: CipherSuite, hello: ClientHello): Uint8Array {
  const w = new ByteWriter().u16(0x0303).bytes(random);
  w.vector(1, () => undefined);
  w.u16(suite.id).u8(0);
  const ext = new ByteWriter();
  if (hello.secureRenegotiation) ext.u16(ExtensionType.renegotiationInfo).vector(2, (e) => e.u8(0));
  if (hello.extendedMasterSecret) ext.u16(ExtensionType.extendedMasterSecret).vector(2, () => undefined);
  if (suite.keyExchange === 'ecdhe_rsa' && hello.pointFormats) ext.u16(ExtensionType.ecPointFormats).vector(2, (e) => e.vector(1, (l) => l.u8(0)));
  const extBytes = ext.finish();
  if (extBytes.byteLength) w.vector(2, (e) => e.bytes(extBytes));
  return w.finish();
}

export { TlsError };
