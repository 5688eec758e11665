// Photos.sqlite and CloudRecordings.db facts joined onto the camera roll and recording files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateBackup, makeDatabase } from './backup-generator.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { readPhotoLibrary, readVoiceMemoLibrary } from '../../src/library/categories/media-details.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});
const iso = (apple: number) => new Date((apple + 978307200) * 1000).toISOString();

for (const table of ['ZASSET', 'ZGENERICASSET']) {
  test(`photos: taken date, favourite and hidden from Photos.sqlite (${table}); videos it does not list keep defaults`, async () => {
    const photosDb = await makeDatabase(
      `CREATE TABLE ${table} (Z_PK INTEGER PRIMARY KEY, ZDIRECTORY TEXT, ZFILENAME TEXT, ZDATECREATED TIMESTAMP, ZFAVORITE INTEGER, ZHIDDEN INTEGER);
       INSERT INTO ${table} VALUES (1, 'DCIM/100APPLE', 'IMG_0001.JPG', 700000000.5, 1, 0), (2, 'DCIM/100APPLE', 'IMG_0404.JPG', 1, 0, 1);`,
    );
    const recordings = await makeDatabase(
      `CREATE TABLE ZCLOUDRECORDING (Z_PK INTEGER PRIMARY KEY, ZDATE TIMESTAMP, ZDURATION FLOAT, ZCUSTOMLABEL VARCHAR, ZENCRYPTEDTITLE VARCHAR, ZPATH VARCHAR);
       INSERT INTO ZCLOUDRECORDING VALUES (1, 720000000, 75.25, 'Old label', 'Kitchen ideas', '/var/mobile/Media/Recordings/20231114 120000.m4a');`,
    );
    const backup = await generateBackup({
      extra: [
        { domain: 'CameraRollDomain', relativePath: 'Media/PhotoData/Photos.sqlite', kind: 'file', content: photosDb },
        { domain: 'MediaDomain', relativePath: 'Media/Recordings/CloudRecordings.db', kind: 'file', content: recordings },
      ],
    });
    cleanup.push(backup.dir);
    const reader = await openBackupFolder(backup.dir);
    try {
      const photos = await readPhotoLibrary(reader);
      assert.deepEqual(photos.map((p) => [p.name, p.created, p.favorite, p.hidden]), [
        ['IMG_0001.JPG', iso(700000000.5), true, false],
        ['IMG_0002.MOV', undefined, false, false],
      ]);
      const memos = await readVoiceMemoLibrary(reader);
      assert.deepEqual(memos.map((m) => [m.name, m.title, m.recorded, m.durationSeconds]), [['20231114 120000.m4a', 'Kitchen ideas', iso(720000000), 75.25]]);
    } finally {
      reader.close();
    }
  });
}

test('without Photos.sqlite or CloudRecordings.db the files are still listed, without facts', async () => {
  const backup = await generateBackup();
  cleanup.push(backup.dir);
  const reader = await openBackupFolder(backup.dir);
  try {
    assert.deepEqual((await readPhotoLibrary(reader)).map((p) => [p.name, p.created, p.favorite, p.hidden]), [
      ['IMG_0001.JPG', undefined, false, false],
      ['IMG_0002.MOV', undefined, false, false],
    ]);
    assert.deepEqual((await readVoiceMemoLibrary(reader)).map((m) => [m.title, m.durationSeconds]), [[undefined, undefined]]);
  } finally {
    reader.close();
  }
});

test('photos: HEIC and videos get the iPhone’s own JPEG thumbnail (Thumbnails/V2, the largest size)', async () => {
  const heic = Uint8Array.from([0, 0, 0, 24, ...new TextEncoder().encode('ftypheic'), 0, 0, 0, 0, ...new TextEncoder().encode('mif1heic')]);
  const jpeg = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i < 3 ? [0xff, 0xd8, 0xff][i]! : i & 0xff));
  const thumbs = 'Media/PhotoData/Thumbnails/V2/DCIM/100APPLE';
  const backup = await generateBackup({
    extra: [
      { domain: 'CameraRollDomain', relativePath: 'Media/DCIM/100APPLE/IMG_0100.HEIC', kind: 'file', content: heic },
      { domain: 'CameraRollDomain', relativePath: `${thumbs}/IMG_0100.HEIC/5003.JPG`, kind: 'file', content: jpeg(300) },
      { domain: 'CameraRollDomain', relativePath: `${thumbs}/IMG_0100.HEIC/5005.JPG`, kind: 'file', content: jpeg(900) },
      { domain: 'CameraRollDomain', relativePath: `${thumbs}/IMG_0002.MOV/5003.JPG`, kind: 'file', content: jpeg(200) },
      // A thumbnail folder whose photo is gone, and a non-JPEG beside a thumbnail: neither becomes one.
      { domain: 'CameraRollDomain', relativePath: `${thumbs}/IMG_0999.HEIC/5003.JPG`, kind: 'file', content: jpeg(100) },
      { domain: 'CameraRollDomain', relativePath: `${thumbs}/IMG_0001.JPG/notes.plist`, kind: 'file', content: new Uint8Array(8) },
    ],
  });
  cleanup.push(backup.dir);
  const reader = await openBackupFolder(backup.dir);
  try {
    const byName = new Map((await readPhotoLibrary(reader)).map((p) => [p.name, p]));
    const heicItem = byName.get('IMG_0100.HEIC')!;
    assert.equal(heicItem.mimeType, 'image/heic');
    assert.deepEqual([...(await reader.readFile(heicItem.thumbnailFileID!))], [...jpeg(900)], 'the largest thumbnail');
    assert.deepEqual([...(await reader.readFile(byName.get('IMG_0002.MOV')!.thumbnailFileID!))], [...jpeg(200)]);
    assert.equal(byName.get('IMG_0001.JPG')!.thumbnailFileID, undefined);
    assert.equal(byName.has('IMG_0999.HEIC'), false);
  } finally {
    reader.close();
  }
});
