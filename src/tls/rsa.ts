import { randomBytes } from './bytes.ts';
import type { RsaPrivateKey, RsaPublicKey } from './keys.ts';

// WebCrypto has no RSAES-PKCS1-v1_5, which TLS RSA key exchange needs, so we do it with BigInt.

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  base %= modulus;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % modulus;
    exponent >>= 1n;
    base = (base * base) % modulus;
  }
  return result;
}

function toBigInt(bytes: Uint8Array): bigint {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex ? BigInt('0x' + hex) : 0n;
}

function toBytes(v: bigint, size: number): Uint8Array {
  const hex = v.toString(16).padStart(size * 2, '0');
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** RSAES-PKCS1-v1_5 encryption (RFC 8017 §7.2.1). */
export function rsaEncryptPkcs1(key: RsaPublicKey, message: Uint8Array): Uint8Array {
  const k = key.size;
  if (message.byteLength > k - 11) throw new Error('message too long for RSA key');
  const em = new Uint8Array(k);
  em[1] = 0x02;
  const psLength = k - 3 - message.byteLength;
  const ps = em.subarray(2, 2 + psLength);
  globalThis.crypto.getRandomValues(ps);
  for (let i = 0; i < ps.length; i++) {
    while (ps[i] === 0) ps[i] = randomBytes(1)[0]!;
  }
  em.set(message, 3 + psLength);
  return toBytes(modPow(toBigInt(em), key.e, key.n), k);
}

/**
 * Decrypts a TLS RSA-encrypted premaster secret. Per RFC 5246 §7.4.7.1 (Bleichenbacher), any
 * failure — bad padding, wrong length, wrong version — yields a random premaster instead of an
 * error, so the handshake fails later at Finished exactly as with a wrong key.
 */
export function rsaDecryptPremaster(key: RsaPrivateKey, ciphertext: Uint8Array, clientVersion: number): Uint8Array {
  const fallback = randomBytes(48);
  fallback[0] = clientVersion >> 8;
  fallback[1] = clientVersion & 0xff;
  if (ciphertext.byteLength !== key.size) return fallback;
  const c = toBigInt(ciphertext);
  if (c >= key.n) return fallback;
  // CRT: m = m2 + q * (qi * (m1 - m2) mod p)
  const m1 = modPow(c, key.dp, key.p);
  const m2 = modPow(c, key.dq, key.q);
  let h = (key.qi * (m1 - m2)) % key.p;
  if (h < 0n) h += key.p;
  const em = toBytes(m2 + h * key.q, key.size);
  const k = key.size;
  let bad = em[0]! | (em[1]! ^ 0x02);
  // the premaster must sit in the last 48 bytes after a zero separator and ≥ 8 non-zero padding bytes
  for (let i = 2; i < k - 49; i++) bad |= em[i]! === 0 ? 1 : 0;
  bad |= em[k - 49]!;
  bad |= em[k - 48]! ^ (clientVersion >> 8);
  bad |= em[k - 47]! ^ (clientVersion & 0xff);
  return bad === 0 ? em.slice(k - 48) : fallback;
}
