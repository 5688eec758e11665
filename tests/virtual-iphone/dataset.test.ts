import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dataset, ProceduralContent } from '../../src/virtual-iphone/dataset/index.ts';

test('the same seed gives the same tree and bytes; another seed differs', async () => {
  const a = await Dataset.create({ size: 'small', seed: 11 });
  const b = await Dataset.create({ size: 'small', seed: 11 });
  const c = await Dataset.create({ size: 'small', seed: 12 });
  const ta = await a.truth(false);
  assert.deepEqual(ta, await b.truth(false));
  assert.notDeepEqual(ta, await c.truth(false));
  const files = ta.filter((e) => e.kind === 'file');
  assert.ok(files.length >= 150 && files.length <= 600, `small has ${files.length} files`);
  assert.ok(files.some((e) => e.size === 0), 'an empty file');
  assert.ok(files.some((e) => e.size === 512) && files.some((e) => e.size === 16), 'block-aligned sizes');
  assert.ok(ta.some((e) => e.relativePath.endsWith('Grüße 📷.txt')), 'non-ASCII name');
  assert.ok(ta.some((e) => e.kind === 'symlink' && e.target?.startsWith('/')), 'symlink with target');
  assert.ok(ta.some((e) => e.relativePath.split('/').length > 10), 'deep nesting');
  assert.ok(ta.some((e) => e.domain === 'HomeDomain' && e.relativePath === ''), 'domain root directory');
  for (const domain of ['CameraRollDomain', 'MediaDomain', 'AppDomainGroup-group.com.apple.notes']) assert.ok(ta.some((e) => e.domain === domain));
  assert.ok(ta.some((e) => e.domain.startsWith('AppDomainPlugin-')) && ta.some((e) => e.domain.startsWith('AppDomainGroup-group.com.example')));
});

test('keychain and Health only appear in the truth of an encrypted backup', async () => {
  const d = await Dataset.create({ size: 'small', seed: 11 });
  const plain = await d.truth(false);
  const enc = await d.truth(true);
  assert.ok(!plain.some((e) => e.domain === 'KeychainDomain' || e.domain === 'HealthDomain'));
  assert.ok(enc.some((e) => e.domain === 'KeychainDomain' && e.relativePath === 'keychain-backup.plist'));
  assert.ok(enc.some((e) => e.domain === 'HealthDomain' && e.relativePath === 'Health/healthdb.sqlite'));
  // hashes are of the real content
  const sms = d.get('HomeDomain', 'Library/SMS/sms.db')!;
  const hash = createHash('sha256').update(sms.content!.read(0, sms.size)).digest('hex');
  assert.equal(enc.find((e) => e.relativePath === 'Library/SMS/sms.db')!.sha256, hash);
});

test('photos are decodable JPEGs and databases open with sqlite3', async () => {
  const d = await Dataset.create({ size: 'small', seed: 11 });
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-dataset-'));
  try {
    const photos = d.entries(false).filter((e) => e.domain === 'CameraRollDomain' && e.relativePath.endsWith('.JPG'));
    assert.ok(photos.length >= 4);
    const distinct = new Set<string>();
    for (const photo of photos.slice(0, 4)) {
      const bytes = photo.content!.read(0, photo.size);
      distinct.add(createHash('sha1').update(bytes).digest('hex'));
      const path = join(dir, 'p.jpg');
      writeFileSync(path, bytes);
      assert.match(execFileSync('/usr/bin/file', ['-b', path]).toString(), /JPEG image data.*baseline.*320x240, components 3/);
      // gdk-pixbuf decodes the whole image (libjpeg) to make a thumbnail; a broken scan fails here.
      execFileSync('/usr/bin/gdk-pixbuf-thumbnailer', ['-s', '64', path, join(dir, 't.png')]);
    }
    assert.equal(distinct.size, 4, 'four different pictures');
    const query = (domain: string, path: string, sql: string): string => {
      const entry = d.get(domain, path)!;
      const file = join(dir, 'db.sqlite');
      writeFileSync(file, entry.content!.read(0, entry.size));
      return execFileSync('/usr/bin/sqlite3', [file, sql]).toString().trim();
    };
    assert.ok(Number(query('HomeDomain', 'Library/SMS/sms.db', 'SELECT count(*) FROM message JOIN chat_message_join ON message.ROWID = message_id JOIN handle ON handle.ROWID = message.handle_id')) >= 30);
    assert.ok(Number(query('HomeDomain', 'Library/SMS/sms.db', 'SELECT count(*) FROM attachment JOIN message_attachment_join ON attachment.ROWID = attachment_id')) >= 1);
    const attachment = query('HomeDomain', 'Library/SMS/sms.db', 'SELECT filename FROM attachment LIMIT 1').replace('~/', '');
    assert.ok(d.get('HomeDomain', attachment), 'attachment file exists in the dataset');
    assert.ok(Number(query('HomeDomain', 'Library/AddressBook/AddressBook.sqlitedb', 'SELECT count(*) FROM ABPerson JOIN ABMultiValue ON record_id = ABPerson.ROWID')) > 0);
    assert.ok(Number(query('HomeDomain', 'Library/CallHistoryDB/CallHistory.storedata', 'SELECT count(*) FROM ZCALLRECORD')) > 0);
    assert.ok(Number(query('AppDomainGroup-group.com.apple.notes', 'NoteStore.sqlite', 'SELECT count(*) FROM ZICNOTEDATA')) > 0);
    assert.ok(Number(query('HomeDomain', 'Library/Safari/History.db', 'SELECT count(*) FROM history_visits')) > 0);
    assert.ok(Number(query('HomeDomain', 'Library/Safari/Bookmarks.db', 'SELECT count(*) FROM bookmarks')) > 0);
    assert.equal(Number(query('CameraRollDomain', 'Media/PhotoData/Photos.sqlite', 'SELECT count(*) FROM ZASSET')), photos.length);
    assert.ok(Number(query('MediaDomain', 'Media/Recordings/CloudRecordings.db', 'SELECT count(*) FROM ZCLOUDRECORDING')) > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mutate modifies, adds and removes files deterministically', async () => {
  const a = await Dataset.create({ size: 'small', seed: 2 });
  const b = await Dataset.create({ size: 'small', seed: 2 });
  const before = new Map((await a.truth(false)).map((e) => [`${e.domain}-${e.relativePath}`, e]));
  const change = a.mutate(7);
  assert.deepEqual(change, b.mutate(7));
  assert.equal(change.modified.length, 3);
  assert.equal(change.added.length, 3);
  assert.equal(change.removed.length, 3);
  const after = new Map((await a.truth(false)).map((e) => [`${e.domain}-${e.relativePath}`, e]));
  for (const k of change.modified) assert.notEqual(after.get(k)!.sha256, before.get(k)!.sha256);
  for (const k of change.added) assert.ok(after.has(k) && !before.has(k));
  for (const k of change.removed) assert.ok(!after.has(k) && before.has(k));
});

test('large profile: 100k+ files, ~4 GB incl. a 2 GB file, content generated on demand', async () => {
  const d = await Dataset.create({ size: 'large', seed: 1 });
  const files = d.entries(false).filter((e) => e.kind === 'file');
  assert.ok(files.length >= 100_000, `${files.length} files`);
  assert.ok(d.totalBytes(false) > 3.9e9);
  const huge = files.find((e) => e.size === 2 * 1024 ** 3)!;
  assert.ok(huge, 'one 2 GiB file');
  const tail = huge.content!.read(huge.size - 100, 1000);
  assert.equal(tail.byteLength, 100);
  // random access: a slice equals the same bytes read as part of a bigger read
  const content = new ProceduralContent(99, 300_000);
  assert.deepEqual(content.read(70_000, 10), content.read(65_536, 100_000).subarray(70_000 - 65_536, 70_000 - 65_536 + 10));
});
