export { BackupEncryption, MANIFEST_KEY_CLASS, type WrappedFileKey } from './backup-encryption.ts';
export { createBackupKeybag, unlockBackupKeybag, derivePasscodeKey, encodeTlv, decodeTlv, DEVICE_KDF, KeybagError, type KdfParameters, type BackupKeybag, type KeybagItem } from './keybag.ts';
export { CbcEncryptor, aesCbcEncrypt, aesCbcDecrypt, aesKeyWrap, aesKeyUnwrap, pbkdf2, randomBytes, encryptedSize } from './crypto.ts';
