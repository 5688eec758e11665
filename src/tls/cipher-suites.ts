import type { HashName } from './prf.ts';

export type KeyExchange = 'ecdhe_rsa' | 'rsa';

export interface CipherSuite {
  id: number;
  name: string;
  keyExchange: KeyExchange;
  cipher: 'gcm' | 'cbc';
  keyLength: 16 | 32;
  /** PRF and Finished hash. */
  prfHash: HashName;
  /** Record MAC key length (CBC suites: HMAC-SHA1). */
  macLength: number;
  /** Fixed IV bytes from the key block (GCM implicit nonce part). */
  fixedIvLength: number;
}

export const CIPHER_SUITES: readonly CipherSuite[] = [
  { id: 0xc02f, name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', keyExchange: 'ecdhe_rsa', cipher: 'gcm', keyLength: 16, prfHash: 'SHA-256', macLength: 0, fixedIvLength: 4 },
  { id: 0xc030, name: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', keyExchange: 'ecdhe_rsa', cipher: 'gcm', keyLength: 32, prfHash: 'SHA-384', macLength: 0, fixedIvLength: 4 },
  { id: 0x009c, name: 'TLS_RSA_WITH_AES_128_GCM_SHA256', keyExchange: 'rsa', cipher: 'gcm', keyLength: 16, prfHash: 'SHA-256', macLength: 0, fixedIvLength: 4 },
  { id: 0x009d, name: 'TLS_RSA_WITH_AES_256_GCM_SHA384', keyExchange: 'rsa', cipher: 'gcm', keyLength: 32, prfHash: 'SHA-384', macLength: 0, fixedIvLength: 4 },
  { id: 0x002f, name: 'TLS_RSA_WITH_AES_128_CBC_SHA', keyExchange: 'rsa', cipher: 'cbc', keyLength: 16, prfHash: 'SHA-256', macLength: 20, fixedIvLength: 0 },
  { id: 0x0035, name: 'TLS_RSA_WITH_AES_256_CBC_SHA', keyExchange: 'rsa', cipher: 'cbc', keyLength: 32, prfHash: 'SHA-256', macLength: 20, fixedIvLength: 0 },
];

export const TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

/** What the client offers by default, in preference order (§6.2 of the transport reference). */
export const DEFAULT_CIPHER_SUITES: readonly number[] = CIPHER_SUITES.map((s) => s.id);

export function cipherSuiteById(id: number): CipherSuite | undefined {
  return CIPHER_SUITES.find((s) => s.id === id);
}

export function cipherSuiteName(id: number): string {
  return cipherSuiteById(id)?.name ?? `0x${id.toString(16).padStart(4, '0')}`;
}

/** Named groups (RFC 8422) we do ECDHE over, with their WebCrypto names and point sizes. */
export const NAMED_GROUPS = new Map<number, { name: 'P-256' | 'P-384'; pointLength: number }>([
  [0x0017, { name: 'P-256', pointLength: 65 }],
  [0x0018, { name: 'P-384', pointLength: 97 }],
]);

/** rsa_pkcs1_* SignatureScheme values (RFC 5246 §7.4.1.4.1 HashAlgorithm ‖ rsa(1)). */
export const RSA_PKCS1_SIGNATURES = new Map<number, HashName>([
  [0x0401, 'SHA-256'],
  [0x0501, 'SHA-384'],
  [0x0601, 'SHA-512'],
  [0x0201, 'SHA-1'],
]);

export function signatureSchemeFor(hash: HashName): number {
  for (const [scheme, h] of RSA_PKCS1_SIGNATURES) if (h === hash) return scheme;
  throw new Error(`no rsa_pkcs1 scheme for ${hash}`);
}
