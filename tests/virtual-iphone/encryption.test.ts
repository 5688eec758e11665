import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeXmlPlist } from '../../src/plist/index.ts';
import { aesCbcDecrypt, aesCbcEncrypt, BackupEncryption, CbcEncryptor, decodeTlv, encryptedSize, unlockBackupKeybag } from '../../src/virtual-iphone/encryption/index.ts';
import { Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { buildManifestDb, manifestRow } from '../../src/virtual-iphone/services/index.ts';

const KDF = { dpic: 2000, iter: 50 };

test('keybag has the device layout and unlocks only with its password', async () => {
  const enc = await BackupEncryption.create('pässword', KDF);
  const tags = decodeTlv(enc.keybag).map((i) => i.tag);
  assert.deepEqual(tags.slice(0, 10), ['VERS', 'TYPE', 'UUID', 'HMCK', 'WRAP', 'SALT', 'ITER', 'DPWT', 'DPIC', 'DPSL']);
  assert.equal(tags.filter((t) => t === 'CLAS').length, 11);
  assert.equal(tags.filter((t) => t === 'WPKY').length, 11);
  const keys = await unlockBackupKeybag(enc.keybag, 'pässword');
  assert.equal(keys?.size, 11);
  assert.equal(await unlockBackupKeybag(enc.keybag, 'wrong'), null);
  assert.equal(await enc.checkPassword('pässword'), true);
  const fileKey = await enc.newFileKey(3);
  assert.equal(fileKey.encryptionKey.byteLength, 44);
  assert.equal(new DataView(fileKey.encryptionKey.buffer).getUint32(0, true), 3);
  assert.deepEqual(await enc.unwrapFileKey(fileKey.encryptionKey), fileKey.key);
});

test('streamed CBC equals one-shot CBC for every size class, and decrypts back', async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  for (const size of [0, 1, 15, 16, 17, 65536, 65537, 200_000]) {
    const plain = Uint8Array.from({ length: size }, (_, i) => (i * 31) & 255);
    const enc = await CbcEncryptor.create(key);
    const parts: Uint8Array[] = [];
    for (let o = 0; o < size; o += 7000) parts.push(await enc.update(plain.subarray(o, o + 7000)));
    parts.push(await enc.final());
    const streamed = Buffer.concat(parts);
    const whole = await aesCbcEncrypt(key, plain);
    assert.equal(streamed.byteLength, encryptedSize(size));
    assert.deepEqual(new Uint8Array(streamed), whole);
    assert.deepEqual(await aesCbcDecrypt(key, whole), plain);
  }
});

test('an independent python3 decryptor (cryptography) opens Manifest.db and files we encrypted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-enc-'));
  try {
    const dataset = await Dataset.create({ size: 'small', seed: 4 });
    const enc = await BackupEncryption.create('0000', KDF);
    const entries = dataset.entries(true);
    const rows = [];
    const expected: Record<string, string> = {};
    for (const entry of entries) {
      if (entry.kind !== 'file' || !(entry.domain === 'HomeDomain' || entry.domain === 'KeychainDomain' || entry.relativePath.includes('sizes'))) {
        if (entry.kind !== 'file') rows.push(manifestRow(entry));
        continue;
      }
      const key = await enc.newFileKey(entry.protectionClass);
      const row = manifestRow(entry, key.encryptionKey);
      rows.push(row);
      const e = await CbcEncryptor.create(key.key);
      const parts: Uint8Array[] = [];
      for (let o = 0; o < entry.size; o += 65536) parts.push(await e.update(entry.content!.read(o, 65536)));
      parts.push(await e.final());
      mkdirSync(join(dir, row.fileId.slice(0, 2)), { recursive: true });
      writeFileSync(join(dir, row.fileId.slice(0, 2), row.fileId), Buffer.concat(parts));
      expected[`${entry.domain}-${entry.relativePath}`] = createHash('sha256').update(entry.content!.read(0, entry.size)).digest('hex');
    }
    const manifestKey = await enc.manifestKey();
    writeFileSync(join(dir, 'Manifest.db'), await aesCbcEncrypt(manifestKey.key, await buildManifestDb(rows)));
    writeFileSync(join(dir, 'Manifest.plist'), encodeXmlPlist({ IsEncrypted: true, BackupKeyBag: enc.keybag, ManifestKey: manifestKey.encryptionKey, Version: '10.0' }));
    const out = JSON.parse(execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'decrypt_backup.py'), dir, '0000']).toString()) as { files: Record<string, string>; rows: number };
    assert.equal(out.rows, rows.length);
    assert.deepEqual(out.files, expected);
    assert.ok(Object.keys(expected).length > 10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
