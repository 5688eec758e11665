import { aesCbcEncrypt, aesKeyUnwrap, aesKeyWrap, CbcEncryptor, randomBytes } from './crypto.ts';
import { createBackupKeybag, DEVICE_KDF, unlockBackupKeybag, type KdfParameters } from './keybag.ts';

/** Class the device protects Manifest.db with. */
export const MANIFEST_KEY_CLASS = 4;

/** A per-file key: the raw key and its MBFile EncryptionKey blob (u32 LE class ‖ 40-byte wrapped key). */
export interface WrappedFileKey {
  key: Uint8Array;
  encryptionKey: Uint8Array;
  protectionClass: number;
}

/**
 * The device side of an encrypted backup: the keybag derived from the backup password and
 * the operations BackupAgent2 performs with it (per-file keys, payload and Manifest.db encryption).
 */
export class BackupEncryption {
  private constructor(
    readonly keybag: Uint8Array,
    private readonly classKeys: Map<number, Uint8Array>,
  ) {}

  static async create(password: string, kdf: KdfParameters = DEVICE_KDF): Promise<BackupEncryption> {
    const keybag = await createBackupKeybag(password, kdf);
    return new BackupEncryption(keybag.bytes, keybag.classKeys);
  }

  /** Rebuilds the device's encryption state remembered from an earlier run. */
  static fromParts(keybag: Uint8Array, classKeys: Iterable<[number, Uint8Array]>): BackupEncryption {
    return new BackupEncryption(keybag, new Map(classKeys));
  }

  /** What a simulated phone needs to remember to keep encrypting with the same keybag. */
  parts(): { keybag: Uint8Array; classKeys: [number, Uint8Array][] } {
    return { keybag: this.keybag, classKeys: [...this.classKeys] };
  }

  /** True if `password` unlocks this keybag (what ChangePassword checks for OldPassword). */
  async checkPassword(password: string): Promise<boolean> {
    return (await unlockBackupKeybag(this.keybag, password)) !== null;
  }

  async newFileKey(protectionClass: number): Promise<WrappedFileKey> {
    const clas = protectionClass >= 1 && protectionClass <= 11 ? protectionClass : 3;
    const classKey = this.classKeys.get(clas)!;
    const key = randomBytes(32);
    const wrapped = await aesKeyWrap(classKey, key);
    const encryptionKey = new Uint8Array(44);
    new DataView(encryptionKey.buffer).setUint32(0, clas, true);
    encryptionKey.set(wrapped, 4);
    return { key, encryptionKey, protectionClass: clas };
  }

  /** Recovers a file key from an EncryptionKey/ManifestKey blob; null if it is not ours. */
  async unwrapFileKey(blob: Uint8Array): Promise<Uint8Array | null> {
    if (blob.byteLength !== 44) return null;
    const clas = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
    const classKey = this.classKeys.get(clas);
    return classKey ? aesKeyUnwrap(classKey, blob.subarray(4)) : null;
  }

  /** ManifestKey for Manifest.plist plus the key that encrypts Manifest.db. */
  async manifestKey(): Promise<WrappedFileKey> {
    return this.newFileKey(MANIFEST_KEY_CLASS);
  }

  static encryptor(key: Uint8Array): Promise<CbcEncryptor> {
    return CbcEncryptor.create(key);
  }

  static encryptWhole(key: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
    return aesCbcEncrypt(key, plain);
  }
}
