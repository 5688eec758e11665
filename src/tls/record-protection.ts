import { cbc } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { bs, equalConstantTime, randomBytes } from './bytes.ts';
import type { CipherSuite } from './cipher-suites.ts';
import { Alert, fatal } from './errors.ts';

export const MAX_PLAINTEXT = 16384;
/** RFC 5246 §6.2.3: TLSCiphertext.length ≤ 2^14 + 2048. */
export const MAX_CIPHERTEXT = 16384 + 2048;

/** Encrypts and authenticates one direction's records once keys are active. */
export interface RecordProtection {
  /** The record body (everything after the 5-byte header) as parts to be written in order. */
  seal(type: number, seq: number, plaintext: Uint8Array): Promise<Uint8Array[]>;
  /** The plaintext of a record body; throws bad_record_mac on any tampering. */
  open(type: number, seq: number, body: Uint8Array): Promise<Uint8Array>;
}

function writeSeq(out: Uint8Array, offset: number, seq: number): void {
  const high = Math.floor(seq / 0x100000000);
  const low = seq >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = high >>> 16;
  out[offset + 2] = high >>> 8;
  out[offset + 3] = high;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = low >>> 16;
  out[offset + 6] = low >>> 8;
  out[offset + 7] = low;
}

/** seq ‖ type ‖ version ‖ length: the GCM AAD and the CBC MAC header. */
function pseudoHeader(seq: number, type: number, length: number): Uint8Array {
  const h = new Uint8Array(13);
  writeSeq(h, 0, seq);
  h[8] = type;
  h[9] = 3;
  h[10] = 3;
  h[11] = length >>> 8;
  h[12] = length & 0xff;
  return h;
}

class GcmProtection implements RecordProtection {
  constructor(
    private readonly key: CryptoKey,
    private readonly fixedIv: Uint8Array,
  ) {}

  async seal(type: number, seq: number, plaintext: Uint8Array): Promise<Uint8Array[]> {
    // explicit nonce = sequence number: unique per key without a random source per record
    const nonce = new Uint8Array(12);
    nonce.set(this.fixedIv);
    writeSeq(nonce, 4, seq);
    const sealed = await globalThis.crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: bs(nonce), additionalData: bs(pseudoHeader(seq, type, plaintext.byteLength)), tagLength: 128 },
      this.key,
      bs(plaintext),
    );
    return [nonce.subarray(4), new Uint8Array(sealed)];
  }

  async open(type: number, seq: number, body: Uint8Array): Promise<Uint8Array> {
    const length = body.byteLength - 24;
    if (length < 0) throw fatal(Alert.badRecordMac, 'record too short for AES-GCM');
    if (length > MAX_PLAINTEXT) throw fatal(Alert.recordOverflow, 'decrypted record exceeds 16384 bytes');
    const nonce = new Uint8Array(12);
    nonce.set(this.fixedIv);
    nonce.set(body.subarray(0, 8), 4);
    try {
      const opened = await globalThis.crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: bs(nonce), additionalData: bs(pseudoHeader(seq, type, length)), tagLength: 128 },
        this.key,
        bs(body.subarray(8)),
      );
      return new Uint8Array(opened);
    } catch (cause) {
      throw fatal(Alert.badRecordMac, 'a record failed authentication (tampered or corrupted)', cause);
    }
  }
}

/**
 * AES-CBC + HMAC-SHA1, MAC-then-encrypt with a random explicit IV (RFC 5246 §6.2.3.2). WebCrypto's
 * AES-CBC insists on PKCS#7 padding, which is not TLS padding, so this uses @noble/ciphers.
 */
class CbcProtection implements RecordProtection {
  constructor(
    private readonly key: Uint8Array,
    private readonly macKey: Uint8Array,
  ) {}

  async seal(type: number, seq: number, plaintext: Uint8Array): Promise<Uint8Array[]> {
    const mac = hmac.create(sha1, this.macKey).update(pseudoHeader(seq, type, plaintext.byteLength)).update(plaintext).digest();
    const unpadded = plaintext.byteLength + mac.byteLength;
    const padLength = 15 - (unpadded % 16);
    const data = new Uint8Array(unpadded + padLength + 1);
    data.set(plaintext);
    data.set(mac, plaintext.byteLength);
    data.fill(padLength, unpadded);
    const iv = randomBytes(16);
    return [iv, cbc(this.key, iv, { disablePadding: true }).encrypt(data)];
  }

  async open(type: number, seq: number, body: Uint8Array): Promise<Uint8Array> {
    // at least IV + two blocks (20-byte MAC + 1 padding byte), whole blocks only
    if (body.byteLength < 48 || body.byteLength % 16 !== 0) throw fatal(Alert.badRecordMac, 'malformed AES-CBC record');
    const data = cbc(this.key, body.subarray(0, 16), { disablePadding: true }).decrypt(body.subarray(16));
    const total = data.byteLength;
    let padLength = data[total - 1]!;
    // same work whatever the padding says: check up to 256 trailing bytes, fall back to no padding
    let bad = padLength + 1 + 20 > total ? 1 : 0;
    const checkable = Math.min(256, total);
    for (let i = 1; i < checkable; i++) {
      const inPadding = i <= padLength ? 0xff : 0;
      bad |= (data[total - 1 - i]! ^ padLength) & inPadding;
    }
    if (bad) padLength = 0;
    const length = total - padLength - 1 - 20;
    const plaintext = data.subarray(0, length);
    const mac = hmac.create(sha1, this.macKey).update(pseudoHeader(seq, type, length)).update(plaintext).digest();
    const macOk = equalConstantTime(mac, data.subarray(length, length + 20));
    if (bad || !macOk) throw fatal(Alert.badRecordMac, 'a record failed authentication (tampered or corrupted)');
    if (length > MAX_PLAINTEXT) throw fatal(Alert.recordOverflow, 'decrypted record exceeds 16384 bytes');
    return plaintext;
  }
}

export interface DirectionKeys {
  key: Uint8Array;
  macKey: Uint8Array;
  fixedIv: Uint8Array;
}

export async function createRecordProtection(suite: CipherSuite, keys: DirectionKeys): Promise<RecordProtection> {
  if (suite.cipher === 'cbc') return new CbcProtection(keys.key, keys.macKey);
  const key = await globalThis.crypto.subtle.importKey('raw', bs(keys.key), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  return new GcmProtection(key, keys.fixedIv);
}
