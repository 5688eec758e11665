import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { decodeMbFile } from '../../src/library/mbfile.ts';
import { parseKeybag } from '../../src/library/crypto/keybag.ts';
import { readPhotoThumbnails } from '../../src/library/categories/media.ts';
import { MVT_BACKUP, PYIOSBACKUP_ENCRYPTED } from '../helpers/fixtures.ts';

const MVT = MVT_BACKUP;
const PYIOS = PYIOSBACKUP_ENCRYPTED;

test('MVT fixture: opens, 3,721 rows, folders, search, MBFile fields', async () => {
  const reader = await BackupReader.open(new NodeFsSource(MVT));
  try {
    assert.equal(reader.encrypted, false);
    assert.equal(reader.manifest.rowCount, 3721);
    const summary = reader.summary();
    assert.equal(summary.productType, 'iPhone9,3');
    assert.equal(summary.productVersion, '14.3');
    assert.equal(summary.fileCount, 1089);
    assert.equal(summary.state, 'unknown'); // no Status.plist in this fixture

    // A real backup's thumbnail layout: the HEIC photo's JPEG preview sits in a folder named after it.
    const thumbnails = readPhotoThumbnails(reader);
    assert.equal(thumbnails.get('Media/DCIM/100APPLE/IMG_0011.HEIC'), '9199eb0e70f73b7e95ba6f7ea8f343e4b6d9d342');
    assert.equal(thumbnails.get('Media/DCIM/100APPLE/IMG_0003.PNG'), '716ea240d01462d683d69c3fa0dfa4b4d53802e4');

    const top = reader.manifest.list('HomeDomain', '').map((e) => e.name);
    assert.deepEqual(top, ['Documents', 'Library']);
    const sms = reader.manifest.list('HomeDomain', 'Library/SMS/');
    assert.deepEqual(sms.map((e) => [e.name, e.kind]), [['Drafts', 'directory'], ['sms.db', 'file']]);

    // every fileID is sha1(domain-relativePath)
    for (const row of reader.manifest.rows()) {
      assert.equal(row.fileID, createHash('sha1').update(`${row.domain}-${row.relativePath}`).digest('hex'));
    }

    const found = reader.manifest.search('SMS.DB');
    assert.ok(found.some((e) => e.fileID === '3d0d7e5fb2ce288813306e4d4636395e047a3d28'));
    assert.equal(reader.manifest.search('no-such-name-anywhere').length, 0);
    assert.ok(reader.manifest.search('50%_').length === 0, 'LIKE wildcards are escaped');

    const md = reader.metadata('3d0d7e5fb2ce288813306e4d4636395e047a3d28')!;
    assert.equal(md.relativePath, 'Library/SMS/sms.db');
    assert.equal(md.size, 278528);
    assert.equal(md.mode, 0o100644);
    assert.equal(md.protectionClass, 4);
    assert.equal(md.lastModified, new Date(1638501497 * 1000).toISOString());
    const mb = reader.manifest.metadata('3d0d7e5fb2ce288813306e4d4636395e047a3d28')!;
    assert.equal(mb.encryptionKey?.length, 44);
    assert.equal(mb.digest?.length, 20);

    const symlink = [...reader.manifest.rows()].find((r) => r.kind === 'symlink')!;
    assert.match(reader.metadata(symlink.fileID)!.symlinkTarget!, /^\/var\//);

    const withXattrs = [...reader.manifest.rows()].map((r) => (r.blob ? decodeMbFile(r.blob) : undefined)).find((m) => m?.extendedAttributes);
    assert.ok(withXattrs && Object.keys(withXattrs.extendedAttributes!).length > 0);

    // payload present (synthetic test db): opens as a database
    const db = await reader.openDatabase('HomeDomain', 'Library/SMS/sms.db');
    assert.ok(db);
    db.close();
  } finally {
    reader.close();
  }
});

test('pyiosbackup fixture: keybag, wrong password, unlock with "0000", decrypt Manifest.db and the test file', async () => {
  const reader = await BackupReader.open(new NodeFsSource(PYIOS));
  try {
    assert.equal(reader.encrypted, true);
    assert.equal(reader.locked, true);
    const bag = parseKeybag(reader.manifestPlist!['BackupKeyBag'] as Uint8Array);
    assert.equal(bag.version, 5);
    assert.equal(bag.iterations, 10000);
    assert.equal(bag.dpic, 10_000_000);
    assert.equal(bag.classes.length, 11);

    // (a wrong password is tested on the synthetic backup: here each try costs 10M PBKDF2 rounds)
    await reader.unlock('0000');
    assert.equal(reader.locked, false);
    assert.equal(reader.manifest.rowCount, 1);
    const entry = reader.manifest.find('MyTestDomain', 'Media/Test.txt')!;
    assert.equal(entry.fileID, '5727bd1c5fa1055e15d8b4a75a74793c84b5ffdc');
    assert.equal(entry.kind, 'file'); // flags 0 → from Mode
    const content = await reader.readFile(entry.fileID);
    assert.equal(new TextDecoder().decode(content), 'Test data');
    assert.equal(reader.metadata(entry.fileID)!.size, 9);
  } finally {
    reader.close();
  }
});
