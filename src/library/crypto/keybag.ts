import { CorruptBackupError, WrongPasswordError } from '../../core/errors.ts';

/** One protection-class block of a BackupKeyBag. */
export interface KeybagClass {
  clas: number;
  wrap: number;
  ktyp: number;
  wpky: Uint8Array | undefined;
}

export interface Keybag {
  version: number;
  type: number;
  uuid: Uint8Array | undefined;
  salt: Uint8Array;
  iterations: number;
  /** iOS 10.2+: the extra PBKDF2-SHA256 stage; absent on older backups. */
  dpsl: Uint8Array | undefined;
  dpic: number | undefined;
  classes: KeybagClass[];
}

const WRAP_PASSCODE = 2;
/** AES key wrap of a 32-byte class key: the key plus the 8-byte integrity block. */
const WRAPPED_CLASS_KEY_BYTES = 40;

/**
 * The most PBKDF2 rounds an unlock will run. Devices write DPIC 10,000,000 (SHA-256) and ITER
 * 10,000 (SHA-1); the counts come from the backup itself, so a damaged or hostile keybag could ask
 * for 2^64 rounds and keep the page busy for days. Ten times what a device writes for DPIC (about
 * a minute in a browser) and a thousand times for ITER still open every real backup.
 */
export const MAX_DPIC = 100_000_000;
export const MAX_ITER = 10_000_000;

class KdfCostError extends CorruptBackupError {
  constructor(tag: 'DPIC' | 'ITER', rounds: number, limit: number) {
    super(
      `This backup's keybag asks for ${rounds.toLocaleString('en-US')} rounds of password hashing (${tag}), more than any iPhone writes; ` +
        `Lifeboat stops at ${limit.toLocaleString('en-US')} rather than work for hours. The backup is damaged or was not made by a device.`,
    );
  }
}

/** Throws before any hashing when the keybag's KDF counts are beyond what a device ever writes. */
export function checkKdfCost(keybag: Keybag): void {
  if (keybag.dpsl && keybag.dpic && keybag.dpic > MAX_DPIC) throw new KdfCostError('DPIC', keybag.dpic, MAX_DPIC);
  if (keybag.iterations > MAX_ITER) throw new KdfCostError('ITER', keybag.iterations, MAX_ITER);
}

/**
 * Parses the BackupKeyBag TLV: `tag[4] | u32 BE length | value`. Header tags come first; every
 * later `UUID` opens a class block.
 */
export function parseKeybag(bytes: Uint8Array): Keybag {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('latin1');
  const header: Record<string, Uint8Array> = {};
  const classes: Record<string, Uint8Array>[] = [];
  let current: Record<string, Uint8Array> | undefined;
  let at = 0;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) throw new CorruptBackupError('The backup keybag is damaged (a record is cut short).');
    const tag = decoder.decode(bytes.subarray(at, at + 4));
    const length = view.getUint32(at + 4, false);
    if (!/^[A-Z0-9]{4}$/.test(tag) || at + 8 + length > bytes.length) {
      throw new CorruptBackupError('The backup keybag is damaged (a record is malformed or longer than the keybag).');
    }
    const value = bytes.subarray(at + 8, at + 8 + length);
    at += 8 + length;
    if (tag === 'UUID' && header['UUID']) {
      current = {};
      classes.push(current);
    }
    (current ?? header)[tag] = value;
  }
  const int = (v: Uint8Array | undefined): number | undefined => {
    if (!v || v.length === 0 || v.length > 8) return undefined;
    let n = 0;
    for (const b of v) n = n * 256 + b;
    return n;
  };
  const salt = header['SALT'];
  const iterations = int(header['ITER']);
  if (!salt || !iterations) throw new CorruptBackupError('The backup keybag is damaged (no SALT or ITER).');
  return {
    version: int(header['VERS']) ?? 0,
    type: (int(header['TYPE']) ?? 0) & 0x3fffffff,
    uuid: header['UUID'],
    salt,
    iterations,
    dpsl: header['DPSL'],
    dpic: int(header['DPIC']),
    classes: classes.map((c) => ({
      clas: int(c['CLAS']) ?? 0,
      wrap: int(c['WRAP']) ?? 0,
      ktyp: int(c['KTYP']) ?? 0,
      wpky: c['WPKY'],
    })),
  };
}

const subtle = () => globalThis.crypto.subtle;

function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes) as Uint8Array<ArrayBuffer>;
}

/** password → PBKDF2-SHA256(DPSL, DPIC) (iOS 10.2+) → PBKDF2-SHA1(SALT, ITER) → 32-byte passcode key. */
export async function derivePasscodeKey(keybag: Keybag, password: string): Promise<Uint8Array> {
  checkKdfCost(keybag);
  let material: Uint8Array = new TextEncoder().encode(password);
  if (keybag.dpsl && keybag.dpic) {
    const key = await subtle().importKey('raw', buf(material), 'PBKDF2', false, ['deriveBits']);
    material = new Uint8Array(
      await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: buf(keybag.dpsl), iterations: keybag.dpic }, key, 256),
    );
  }
  const key = await subtle().importKey('raw', buf(material), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(
    await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-1', salt: buf(keybag.salt), iterations: keybag.iterations }, key, 256),
  );
}

/** Unwrapped class keys, as non-extractable AES-KW keys (they only ever unwrap file keys). */
export type ClassKeys = Map<number, CryptoKey>;

function isOperationError(error: unknown): boolean {
  return (error as { name?: string }).name === 'OperationError';
}

export async function unlockKeybag(keybag: Keybag, password: string): Promise<ClassKeys> {
  const passcodeKey = await subtle().importKey('raw', buf(await derivePasscodeKey(keybag, password)), 'AES-KW', false, ['unwrapKey']);
  const keys: ClassKeys = new Map();
  for (const c of keybag.classes) {
    if (!(c.wrap & WRAP_PASSCODE) || !c.wpky) continue;
    if (c.wpky.length !== WRAPPED_CLASS_KEY_BYTES) {
      throw new CorruptBackupError(`The backup keybag's key for protection class ${c.clas} is damaged (${c.wpky.length} bytes, not ${WRAPPED_CLASS_KEY_BYTES}).`);
    }
    try {
      keys.set(c.clas, await subtle().unwrapKey('raw', buf(c.wpky), passcodeKey, 'AES-KW', 'AES-KW', false, ['unwrapKey']));
    } catch (error) {
      if (isOperationError(error)) throw new WrongPasswordError('That password does not unlock this backup.');
      throw new CorruptBackupError(`The backup keybag's key for protection class ${c.clas} is damaged.`, error);
    }
  }
  if (keys.size === 0) throw new CorruptBackupError('The backup keybag holds no password-protected class keys.');
  return keys;
}

/**
 * Unwraps a per-file (or Manifest) key: `u32 LE protection class || 40-byte AES-KW wrapped key`.
 * The result is an AES-256-CBC key; `encrypt` is needed for the streaming padding trick.
 */
export async function unwrapFileKey(classKeys: ClassKeys, wrappedWithClass: Uint8Array, what: string): Promise<CryptoKey> {
  return unwrapCbcKey(classKeys, wrappedWithClass, what, false);
}

/**
 * unwrapFileKey's key as its 32 bytes too, for a synchronous AES (reading Manifest.db in place,
 * where SQLite cannot wait for WebCrypto).
 */
export async function unwrapFileKeyBytes(classKeys: ClassKeys, wrappedWithClass: Uint8Array, what: string): Promise<{ key: CryptoKey; bytes: Uint8Array }> {
  const extractable = await unwrapCbcKey(classKeys, wrappedWithClass, what, true);
  const bytes = new Uint8Array(await subtle().exportKey('raw', extractable));
  const key = await subtle().importKey('raw', bytes, 'AES-CBC', false, ['encrypt', 'decrypt']);
  return { key, bytes };
}

async function unwrapCbcKey(classKeys: ClassKeys, wrappedWithClass: Uint8Array, what: string, extractable: boolean): Promise<CryptoKey> {
  if (wrappedWithClass.length < 4 + 24) throw new CorruptBackupError(`The encryption key of ${what} is damaged (too short).`);
  const clas = new DataView(wrappedWithClass.buffer, wrappedWithClass.byteOffset, 4).getUint32(0, true);
  const classKey = classKeys.get(clas);
  if (!classKey) throw new CorruptBackupError(`${what} is protected by class ${clas}, which the keybag does not unlock.`);
  try {
    return await subtle().unwrapKey('raw', buf(wrappedWithClass.subarray(4)), classKey, 'AES-KW', 'AES-CBC', extractable, ['encrypt', 'decrypt']);
  } catch (error) {
    throw new CorruptBackupError(`The encryption key of ${what} does not unwrap (damaged key).`, error);
  }
}
