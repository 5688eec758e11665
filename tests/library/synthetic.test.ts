import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBackup, fileIdOf, JPEG_BYTES, type GeneratedBackup } from './backup-generator.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { WrongPasswordError } from '../../src/core/errors.ts';
import { readChats, readMessages } from '../../src/library/categories/messages.ts';
import { readContacts, contactsToVCard } from '../../src/library/categories/contacts.ts';
import { readNotes } from '../../src/library/categories/notes.ts';
import { readCalls } from '../../src/library/categories/calls.ts';
import { readSafariBookmarks, readSafariHistory } from '../../src/library/categories/safari.ts';
import { readPhotos, readVoiceMemos } from '../../src/library/categories/media.ts';
import { readApps } from '../../src/library/categories/apps.ts';
import { describeContents } from '../../src/library/categories/overview.ts';
import { verifyBackup } from '../../src/library/export/verify.ts';
import { entriesUnder, exportZip } from '../../src/library/export/exports.ts';
import { fileSink } from '../../src/library/node/fs-target.ts';
import { conversationToHtml } from '../../src/library/export/conversation-html.ts';
import { previewFile } from '../../src/library/preview.ts';
import { runCli } from '../../src/cli/main.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

let plainBackup: Promise<GeneratedBackup> | undefined;
let encryptedBackup: Promise<GeneratedBackup> | undefined;
const plain = () => (plainBackup ??= generateBackup().then((b) => (cleanup.push(b.dir), b)));
const encrypted = () => (encryptedBackup ??= generateBackup({ password: 'correct horse' }).then((b) => (cleanup.push(b.dir), b)));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-out-'));
  cleanup.push(dir);
  return dir;
}

for (const variant of ['plain', 'encrypted'] as const) {
  test(`${variant} synthetic backup: summary, browse, every file's content, categories`, async () => {
    const backup = await (variant === 'plain' ? plain() : encrypted());
    const reader = await openBackupFolder(backup.dir, backup.password);
    try {
      const s = reader.summary();
      assert.equal(s.deviceName, 'Test iPhone');
      assert.equal(s.productVersion, '17.4');
      assert.equal(s.encrypted, variant === 'encrypted');
      assert.equal(s.locked, false);
      assert.equal(s.state, 'complete');
      const files = backup.files.filter((f) => f.kind === 'file');
      assert.equal(s.fileCount, files.length);
      assert.equal(s.totalSize, files.reduce((n, f) => n + f.content!.length, 0));
      for (const f of files) {
        const got = await reader.readFile(fileIdOf(f.domain, f.relativePath));
        assert.deepEqual(got, f.content, `${f.domain}/${f.relativePath}`);
      }
      const home = reader.manifest.list('HomeDomain', 'Library').map((e) => `${e.name}:${e.kind}`);
      assert.deepEqual(home, ['AddressBook:directory', 'CallHistoryDB:directory', 'Preferences:symlink', 'SMS:directory', 'Safari:directory']);
      const md = reader.metadata(fileIdOf('HomeDomain', 'Library/Preferences'))!;
      assert.equal(md.symlinkTarget, '/private/var/mobile/Library/Preferences');
      assert.deepEqual(reader.metadata(fileIdOf('HomeDomain', 'Library/SMS/sms.db'))!.extendedAttributes, { 'com.apple.test': new Uint8Array([1, 2, 3]) });

      const chats = await readChats(reader);
      assert.equal(chats.length, 1);
      assert.deepEqual(chats[0]!.participants, ['+15551234567']);
      assert.equal(chats[0]!.messageCount, 3);
      const messages = await readMessages(reader, chats[0]!.id);
      assert.deepEqual(messages.map((m) => [m.text, m.isFromMe, m.date]), [
        ['Hi <there> & welcome', false, new Date(1700000000 * 1000).toISOString()],
        ['Thanks!', true, new Date(1700000060 * 1000).toISOString()],
        [undefined, false, new Date(1700000120 * 1000).toISOString()],
      ]);
      const attachment = messages[2]!.attachments[0]!;
      assert.equal(attachment.mimeType, 'image/jpeg');
      assert.deepEqual(await reader.readFile(attachment.fileID!), JPEG_BYTES);

      const contacts = await readContacts(reader);
      assert.equal(contacts.length, 2);
      assert.equal(contacts[0]!.displayName, 'Ada Lovelace');
      assert.deepEqual(contacts[0]!.phones, [{ label: 'Mobile', value: '+1 555 123 4567' }]);
      assert.equal(contacts[1]!.displayName, 'Acme');
      const vcf = contactsToVCard(contacts);
      assert.match(vcf, /BEGIN:VCARD\r\nVERSION:3\.0\r\nN:Lovelace;Ada;;;\r\nFN:Ada Lovelace\r\nORG:Analytical\\, Engines\\; Ltd\r\n/);
      assert.match(vcf, /TEL;TYPE=CELL:\+1 555 123 4567\r\n/);
      assert.match(vcf, /EMAIL;TYPE=INTERNET,HOME:ada@example\.com\r\n/);
      assert.match(vcf, /NOTE:Line one\\nline two\r\n/);
      assert.equal(vcf.match(/BEGIN:VCARD/g)!.length, 2);

      const notes = await readNotes(reader);
      assert.deepEqual(notes.map((n) => [n.title, n.body]), [['Shopping', 'Shopping\nMilk, eggs — and bread']]);
      const calls = await readCalls(reader);
      assert.deepEqual(calls.map((c) => [c.address, c.direction, c.answered, c.durationSeconds]), [
        ['+15550000000', 'incoming', false, 0],
        ['+15551234567', 'outgoing', true, 65.5],
      ]);
      assert.deepEqual((await readSafariHistory(reader)).map((v) => v.title), ['Example again', 'Example']);
      assert.deepEqual((await readSafariBookmarks(reader)).filter((b) => !b.isFolder).map((b) => b.url), ['https://lifeboat.example/']);
      assert.deepEqual(readPhotos(reader).map((p) => [p.name, p.mimeType]), [['IMG_0001.JPG', 'image/jpeg'], ['IMG_0002.MOV', 'video/quicktime']]);
      assert.deepEqual(readVoiceMemos(reader).map((p) => p.mimeType), ['audio/mp4']);
      assert.deepEqual(readApps(reader), [{ bundleId: 'com.example.app', version: '1.2', dataSize: 19 + 48, fileCount: 2, containers: [{ domain: 'AppDomain-com.example.app', kind: 'app', size: 19 + 48, fileCount: 2 }] }]);

      const contents = await describeContents(reader);
      const counts = Object.fromEntries(contents.categories.map((c) => [c.id, c.count]));
      assert.deepEqual(counts, { messages: 3, contacts: 2, photos: 2, notes: 1, calls: 2, 'safari-history': 2, 'safari-bookmarks': 1, 'voice-memos': 1, apps: 1 });
      assert.ok(contents.categories.every((c) => c.error === undefined));
      assert.ok(contents.encryptedOnly.every((i) => i.present === false));
      assert.ok(contents.neverIncluded.some((t) => /Face ID/.test(t)));

      const report = await verifyBackup(reader);
      assert.equal(report.checked, files.length);
      assert.deepEqual(report.problems, []);

      const html = await conversationToHtml(reader, chats[0]!.id);
      assert.match(html, /Hi &lt;there&gt; &amp; welcome/);
      assert.match(html, /src="data:image\/jpeg;base64,\/9j\//);

      const p1 = await previewFile(reader, fileIdOf('HomeDomain', 'Library/SMS/sms.db'));
      assert.equal(p1.kind, 'sqlite');
      assert.ok(p1.kind === 'sqlite' && p1.tables.find((t) => t.name === 'message')?.rowCount === 3);
      const p2 = await previewFile(reader, fileIdOf('AppDomain-com.example.app', 'Documents/hello.txt'));
      assert.deepEqual(p2, { kind: 'text', text: 'hello from the app\n', truncated: false });
      assert.equal((await previewFile(reader, fileIdOf('CameraRollDomain', 'Media/DCIM/100APPLE/IMG_0001.JPG'))).kind, 'image');
    } finally {
      reader.close();
    }
  });
}

test('encrypted synthetic backup: wrong password → WrongPasswordError, still locked', async () => {
  const backup = await encrypted();
  const reader = await BackupReader.open(new NodeFsSource(backup.dir));
  await assert.rejects(reader.unlock('wrong'), (e: unknown) => e instanceof WrongPasswordError && /password/.test((e as Error).message));
  assert.equal(reader.locked, true);
  assert.throws(() => reader.manifest, /encrypted/);
  reader.close();
});

test('python `cryptography` decrypts what the generator encrypted (independent cross-check)', async () => {
  const backup = await encrypted();
  const script = `
import sys, plistlib, sqlite3, hashlib, struct, tempfile, os
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
d, pw = sys.argv[1], sys.argv[2].encode()
m = plistlib.load(open(os.path.join(d, 'Manifest.plist'), 'rb'))
bag, i, head, classes, cur = m['BackupKeyBag'], 0, {}, {}, None
while i < len(bag):
    tag, ln = bag[i:i+4].decode(), struct.unpack('>I', bag[i+4:i+8])[0]; v = bag[i+8:i+8+ln]; i += 8 + ln
    if tag == 'UUID' and 'UUID' in head: cur = {}; classes[len(classes)] = cur
    (cur if cur is not None else head)[tag] = v
n = lambda b: int.from_bytes(b, 'big')
k1 = hashlib.pbkdf2_hmac('sha256', pw, head['DPSL'], n(head['DPIC']), 32)
pk = hashlib.pbkdf2_hmac('sha1', k1, head['SALT'], n(head['ITER']), 32)
ck = {n(c['CLAS']): aes_key_unwrap(pk, c['WPKY']) for c in classes.values()}
def dec(key, data):
    p = Cipher(algorithms.AES(key), modes.CBC(b'\\0' * 16)).decryptor(); out = p.update(data) + p.finalize()
    return out[:-out[-1]]
mk = m['ManifestKey']
db = dec(aes_key_unwrap(ck[struct.unpack('<I', mk[:4])[0]], mk[4:]), open(os.path.join(d, 'Manifest.db'), 'rb').read())
f = tempfile.NamedTemporaryFile(delete=False); f.write(db); f.close()
con = sqlite3.connect(f.name)
for fid, dom, rp, blob in con.execute('SELECT fileID, domain, relativePath, file FROM Files WHERE flags = 1 ORDER BY domain, relativePath'):
    a = plistlib.loads(blob); o = a['$objects']; root = o[a['$top']['root'].data]
    ek = o[root['EncryptionKey'].data]; ek = ek['NS.data'] if isinstance(ek, dict) else ek
    key = aes_key_unwrap(ck[struct.unpack('<I', ek[:4])[0]], ek[4:])
    data = dec(key, open(os.path.join(d, fid[:2], fid), 'rb').read())
    print(dom + '/' + rp, hashlib.sha256(data).hexdigest())
os.unlink(f.name)
`;
  const r = spawnSync('python3', ['-c', script, backup.dir, backup.password!], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { createHash } = await import('node:crypto');
  const expected = backup.files
    .filter((f) => f.kind === 'file')
    .map((f) => `${f.domain}/${f.relativePath} ${createHash('sha256').update(f.content!).digest('hex')}`)
    .sort();
  assert.deepEqual(r.stdout.trim().split('\n').sort(), expected);
});

test('CLI extract writes <domain>/<relativePath> with dirs and symlinks, decrypted; ls lists rows', async () => {
  const backup = await encrypted();
  const out = await tempDir();
  const outText: string[] = [];
  const io = { out: (t: string) => void outText.push(t), err: (t: string) => void outText.push(t) };
  assert.equal(await runCli(['extract', backup.dir, out, '--password', backup.password!], io), 0);
  for (const f of backup.files) {
    const path = join(out, f.domain, f.relativePath);
    if (f.kind === 'file') assert.deepEqual(new Uint8Array(await readFile(path)), f.content);
    else if (f.kind === 'directory') assert.ok((await stat(path)).isDirectory());
    else assert.equal(await readlink(path), f.target);
  }
  outText.length = 0;
  assert.equal(await runCli(['ls', backup.dir, '--password', backup.password!], io), 0);
  const lines = outText.join('').trim().split('\n');
  assert.equal(lines.length, backup.files.length);
  assert.ok(lines.includes('HomeDomain/Library/SMS/sms.db\t' + backup.files.find((f) => f.relativePath === 'Library/SMS/sms.db')!.content!.length));
});

for (const forceZip64 of [false, true]) {
  test(`zip export opens in python zipfile${forceZip64 ? ' (forced zip64 records)' : ''}`, async () => {
    const backup = await encrypted();
    const reader = await openBackupFolder(backup.dir, backup.password);
    const out = join(await tempDir(), 'export.zip');
    try {
      let last = 0;
      await exportZip(reader, entriesUnder(reader, 'AppDomain-com.example.app', ''), fileSink(out), { forceZip64, progress: (d) => (last = d) });
      assert.equal(last, 2);
    } finally {
      reader.close();
    }
    const script = `
import sys, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist():
    print(i.filename, i.file_size, hashlib.sha256(z.read(i)).hexdigest(), int(i.extract_version >= 45))
`;
    const r = spawnSync('python3', ['-c', script, out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { createHash } = await import('node:crypto');
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const z = forceZip64 ? 1 : 0;
    const files = backup.files.filter((f) => f.domain === 'AppDomain-com.example.app' && f.kind === 'file').sort((a, b) => a.relativePath.localeCompare(b.relativePath));
    assert.deepEqual(r.stdout.trim().split('\n'), [
      `AppDomain-com.example.app/ 0 ${sha(new Uint8Array())} ${z}`,
      `AppDomain-com.example.app/Documents/ 0 ${sha(new Uint8Array())} ${z}`,
      ...files.map((f) => `AppDomain-com.example.app/${f.relativePath} ${f.content!.length} ${sha(f.content!)} ${z}`),
    ]);
    if (forceZip64) {
      const bytes = await readFile(out);
      assert.ok(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), 'zip64 end record present');
    }
  });
}


