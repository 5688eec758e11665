import type { ByteStream } from '../../core/byte-stream.ts';

/** The device's TLS identity for one paired host: our RSA key + the DeviceCertificate that host issued us. */
export interface DeviceTlsIdentity {
  certificateDer: Uint8Array;
  privateKey: CryptoKey;
  /** PKCS#8 DER of the same key, for TLS stacks that cannot take a CryptoKey (node:tls). */
  privateKeyPkcs8: Uint8Array;
}

/** Decides whether the client's certificate (leaf first) chains to the root this host paired with. */
export type ClientCertificateCheck = (chain: Uint8Array[]) => Promise<boolean>;

export interface DeviceTlsSession {
  /** Decrypted application data. */
  readonly stream: ByteStream;
  /**
   * Ends TLS the way lockdownd does after StopSession: answer the host's close_notify with ours,
   * then hand the connection back in plaintext. Resolves once the TLS layer let go of it.
   */
  stop(): Promise<void>;
}

/** How picky this device's TLS is (a device profile narrows what an older iOS accepts). */
export interface DeviceTlsPolicy {
  /** OpenSSL cipher list; honoured by the Node (OpenSSL) acceptor only. */
  ciphers?: string;
}

export interface DeviceTlsAcceptor {
  accept(stream: ByteStream, identity: DeviceTlsIdentity, checkClient: ClientCertificateCheck, policy?: DeviceTlsPolicy): Promise<DeviceTlsSession>;
}

let acceptorPromise: Promise<DeviceTlsAcceptor> | undefined;

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/**
 * In Node the device side uses OpenSSL (node:tls) so libimobiledevice talks to an independent
 * TLS implementation; in a browser it uses Lifeboat's own TLS server. The Node module is loaded by
 * a computed specifier so browser bundles never include node:tls.
 */
export function deviceTlsAcceptor(): Promise<DeviceTlsAcceptor> {
  acceptorPromise ??= isNode() && !forceBrowserTls
    ? import(/* @vite-ignore */ NODE_ACCEPTOR_MODULE).then((m: { nodeTlsAcceptor: DeviceTlsAcceptor }) => m.nodeTlsAcceptor)
    : import('./browser-tls-acceptor.ts').then((m) => m.browserTlsAcceptor);
  return acceptorPromise;
}

const NODE_ACCEPTOR_MODULE = './node/node-tls-acceptor.ts';
let forceBrowserTls = false;

/** Tests: run the device side on Lifeboat's own TLS server even in Node. */
export function useBrowserTlsAcceptor(enabled: boolean): void {
  forceBrowserTls = enabled;
  acceptorPromise = undefined;
}
