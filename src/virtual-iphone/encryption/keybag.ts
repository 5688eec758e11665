import { LifeboatError } from '../../core/errors.ts';
import { aesKeyUnwrap, aesKeyWrap, pbkdf2, randomBytes } from './crypto.ts';

/** One TLV item: 4-char ASCII tag, u32 BE length, value. */
export interface KeybagItem {
  tag: string;
  value: Uint8Array;
}

export class KeybagError extends LifeboatError {
  constructor(message: string) {
    super('corrupt-backup', message, { action: 'The backup keybag is damaged; make a new backup.' });
  }
}

export function encodeTlv(items: readonly KeybagItem[]): Uint8Array {
  const total = items.reduce((n, item) => n + 8 + item.value.byteLength, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const item of items) {
    for (let i = 0; i < 4; i++) out[offset + i] = item.tag.charCodeAt(i);
    view.setUint32(offset + 4, item.value.byteLength);
    out.set(item.value, offset + 8);
    offset += 8 + item.value.byteLength;
  }
  return out;
}

export function decodeTlv(data: Uint8Array): KeybagItem[] {
  const items: KeybagItem[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  while (offset + 8 <= data.byteLength) {
    const tag = String.fromCharCode(...data.subarray(offset, offset + 4));
    const length = view.getUint32(offset + 4);
    if (offset + 8 + length > data.byteLength) throw new KeybagError(`keybag item ${tag} runs past the end`);
    items.push({ tag, value: data.subarray(offset + 8, offset + 8 + length) });
    offset += 8 + length;
  }
  if (offset !== data.byteLength) throw new KeybagError('trailing bytes after the last keybag item');
  return items;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

function readU32(value: Uint8Array): number {
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
}

export interface KdfParameters {
  /** PBKDF2-SHA256 rounds (DPIC); devices use 10,000,000. */
  dpic: number;
  /** PBKDF2-SHA1 rounds (ITER); devices use 10,000. */
  iter: number;
}

export const DEVICE_KDF: KdfParameters = { dpic: 10_000_000, iter: 10_000 };

/** Backup password → passcode key (iOS ≥ 10.2 two-stage KDF). */
export async function derivePasscodeKey(password: string, salts: { dpsl: Uint8Array; salt: Uint8Array }, kdf: KdfParameters): Promise<Uint8Array> {
  const stage1 = await pbkdf2(new TextEncoder().encode(password), salts.dpsl, kdf.dpic, 'SHA-256');
  return pbkdf2(stage1, salts.salt, kdf.iter, 'SHA-1');
}

/** A backup keybag: class keys 1…11, each wrapped by the password-derived key. */
export interface BackupKeybag {
  /** The TLV bytes stored as Manifest.plist BackupKeyBag. */
  bytes: Uint8Array;
  /** Unwrapped class keys (class → 32 bytes); the device keeps these to encrypt files. */
  classKeys: Map<number, Uint8Array>;
}

export async function createBackupKeybag(password: string, kdf: KdfParameters = DEVICE_KDF): Promise<BackupKeybag> {
  const salt = randomBytes(20);
  const dpsl = randomBytes(20);
  const passcodeKey = await derivePasscodeKey(password, { dpsl, salt }, kdf);
  const items: KeybagItem[] = [
    { tag: 'VERS', value: u32(5) },
    { tag: 'TYPE', value: u32(1) },
    { tag: 'UUID', value: randomBytes(16) },
    { tag: 'HMCK', value: randomBytes(40) },
    { tag: 'WRAP', value: u32(0) },
    { tag: 'SALT', value: salt },
    { tag: 'ITER', value: u32(kdf.iter) },
    { tag: 'DPWT', value: u32(1) },
    { tag: 'DPIC', value: u32(kdf.dpic) },
    { tag: 'DPSL', value: dpsl },
  ];
  const classKeys = new Map<number, Uint8Array>();
  for (let clas = 1; clas <= 11; clas++) {
    const classKey = randomBytes(32);
    classKeys.set(clas, classKey);
    items.push(
      { tag: 'UUID', value: randomBytes(16) },
      { tag: 'CLAS', value: u32(clas) },
      { tag: 'WRAP', value: u32(2) },
      { tag: 'KTYP', value: u32(0) },
      { tag: 'WPKY', value: await aesKeyWrap(passcodeKey, classKey) },
    );
  }
  return { bytes: encodeTlv(items), classKeys };
}

/** Unlocks a backup keybag with its password; null if the password is wrong. */
export async function unlockBackupKeybag(bytes: Uint8Array, password: string): Promise<Map<number, Uint8Array> | null> {
  const items = decodeTlv(bytes);
  const header = new Map<string, Uint8Array>();
  let index = 0;
  let uuidSeen = 0;
  for (; index < items.length; index++) {
    const item = items[index]!;
    if (item.tag === 'UUID' && ++uuidSeen === 2) break; // the second UUID opens the first class block
    header.set(item.tag, item.value);
  }
  const salt = header.get('SALT');
  const iter = header.get('ITER');
  const dpsl = header.get('DPSL');
  const dpic = header.get('DPIC');
  if (!salt || !iter || !dpsl || !dpic) throw new KeybagError('keybag lacks SALT/ITER/DPSL/DPIC');
  const passcodeKey = await derivePasscodeKey(password, { dpsl, salt }, { dpic: readU32(dpic), iter: readU32(iter) });
  const classKeys = new Map<number, Uint8Array>();
  let clas = 0;
  let wrap = 0;
  for (; index < items.length; index++) {
    const item = items[index]!;
    if (item.tag === 'CLAS') clas = readU32(item.value);
    else if (item.tag === 'WRAP') wrap = readU32(item.value);
    else if (item.tag === 'WPKY' && wrap & 2) {
      const key = await aesKeyUnwrap(passcodeKey, item.value);
      if (!key) return null;
      classKeys.set(clas, key);
    }
  }
  return classKeys;
}
