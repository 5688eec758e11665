/** WebCrypto helpers for the device's backup encryption (works in Node and browser workers). */

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;

/** WebCrypto's BufferSource typing wants an ArrayBuffer-backed view. */
export function bytes(view: Uint8Array): Uint8Array<ArrayBuffer> {
  return view as Uint8Array<ArrayBuffer>;
}

export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/** SHA-256 of `data` (WebCrypto: native, ≈1 GB/s, where hashing in JavaScript is a few hundred MB/s). */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', bytes(data)));
}

export async function pbkdf2(password: Uint8Array, salt: Uint8Array, iterations: number, hash: 'SHA-1' | 'SHA-256'): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', bytes(password), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'PBKDF2', hash, salt: bytes(salt), iterations }, key, 256));
}

/** RFC 3394 AES key wrap of a 32-byte key → 40 bytes. */
export async function aesKeyWrap(kek: Uint8Array, key: Uint8Array): Promise<Uint8Array> {
  const wrapping = await subtle().importKey('raw', bytes(kek), 'AES-KW', false, ['wrapKey']);
  const toWrap = await subtle().importKey('raw', bytes(key), { name: 'AES-CBC' }, true, ['encrypt']);
  return new Uint8Array(await subtle().wrapKey('raw', toWrap, wrapping, 'AES-KW'));
}

/** RFC 3394 unwrap; null when the integrity check fails (wrong key/password). */
export async function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Promise<Uint8Array | null> {
  const wrapping = await subtle().importKey('raw', bytes(kek), 'AES-KW', false, ['unwrapKey']);
  try {
    const key = await subtle().unwrapKey('raw', bytes(wrapped), wrapping, 'AES-KW', { name: 'AES-CBC' }, true, ['encrypt']);
    return new Uint8Array(await subtle().exportKey('raw', key));
  } catch {
    return null;
  }
}

/**
 * AES-256-CBC with a zero IV and PKCS#7 padding, fed in chunks: each chunk is encrypted with the
 * previous ciphertext block as IV and WebCrypto's own padding block dropped, except at the end.
 * Output length is floor(size / 16) * 16 + 16, exactly as a one-shot encryption.
 */
export class CbcEncryptor {
  private iv: Uint8Array = new Uint8Array(16);
  private pending: Uint8Array = new Uint8Array(0);

  private constructor(private readonly key: CryptoKey) {}

  static async create(rawKey: Uint8Array): Promise<CbcEncryptor> {
    return new CbcEncryptor(await subtle().importKey('raw', bytes(rawKey), { name: 'AES-CBC' }, false, ['encrypt']));
  }

  /** Ciphertext for all whole blocks available so far (may be empty). */
  async update(chunk: Uint8Array): Promise<Uint8Array> {
    let data = chunk;
    if (this.pending.byteLength > 0) {
      data = new Uint8Array(this.pending.byteLength + chunk.byteLength);
      data.set(this.pending, 0);
      data.set(chunk, this.pending.byteLength);
    }
    const whole = data.byteLength - (data.byteLength % 16);
    this.pending = data.slice(whole);
    if (whole === 0) return new Uint8Array(0);
    const out = new Uint8Array(await subtle().encrypt({ name: 'AES-CBC', iv: bytes(this.iv) }, this.key, bytes(data.subarray(0, whole))));
    const cipher = out.subarray(0, whole);
    this.iv = cipher.slice(whole - 16);
    return cipher;
  }

  /** The last block(s), PKCS#7 padded. */
  async final(): Promise<Uint8Array> {
    const out = new Uint8Array(await subtle().encrypt({ name: 'AES-CBC', iv: bytes(this.iv) }, this.key, bytes(this.pending)));
    this.pending = new Uint8Array(0);
    return out;
  }
}

/** One-shot AES-256-CBC, zero IV, PKCS#7 (Manifest.db and small files). */
export async function aesCbcEncrypt(rawKey: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', bytes(rawKey), { name: 'AES-CBC' }, false, ['encrypt']);
  return new Uint8Array(await subtle().encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, bytes(plain)));
}

export async function aesCbcDecrypt(rawKey: Uint8Array, cipher: Uint8Array): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', bytes(rawKey), { name: 'AES-CBC' }, false, ['decrypt']);
  return new Uint8Array(await subtle().decrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, bytes(cipher)));
}

/** Size of the ciphertext a file of `size` bytes becomes. */
export function encryptedSize(size: number): number {
  return size - (size % 16) + 16;
}
