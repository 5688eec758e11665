/**
 * Strict TLS 1.2 (RFC 5246 + 5288 GCM, 7627 EMS, 5746 renegotiation indication, 8422 ECC) over any
 * ByteStream, on WebCrypto. Client for lockdown sessions and services; server for the virtual iPhone.
 */
export { connectTls, type TlsClientOptions, type TlsIdentity } from './client.ts';
export { acceptTls, type TlsServerOptions } from './server.ts';
export type { TlsConnection } from './connection.ts';
export type { TlsHandshakeInfo } from './handshake-common.ts';
export { TlsError, Alert, alertName } from './errors.ts';
export { importRsaPrivateKeyPem, rsaPrivateKeyPemToPkcs8, certificatesFromPem, pemToDer } from './keys.ts';
export { CIPHER_SUITES, DEFAULT_CIPHER_SUITES, cipherSuiteName } from './cipher-suites.ts';
