import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBackup, fileIdOf } from './backup-generator.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { CorruptBackupError } from '../../src/core/errors.ts';
import { MissingBackupFileError } from '../../src/library/errors.ts';
import { readChats } from '../../src/library/categories/messages.ts';
import { readContacts } from '../../src/library/categories/contacts.ts';
import { readNotes } from '../../src/library/categories/notes.ts';
import { describeContents } from '../../src/library/categories/overview.ts';
import { verifyBackup } from '../../src/library/export/verify.ts';
import { ZipSource } from '../../src/library/source/zip-source.ts';
import { ZipWriter } from '../../src/library/export/zip-writer.ts';
import { MemorySink } from '../../src/library/export/byte-sink.ts';
import { encodeBinaryPlist, decodePlist, type PlistDict } from '../../src/plist/index.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});
async function backup(options: Parameters<typeof generateBackup>[0] = {}) {
  const b = await generateBackup(options);
  cleanup.push(b.dir);
  return b;
}
const payload = (dir: string, domain: string, path: string) => {
  const id = fileIdOf(domain, path);
  return join(dir, id.slice(0, 2), id);
};

test('truncated Manifest.db → CorruptBackupError naming Manifest.db', async () => {
  const b = await backup();
  const bytes = await readFile(join(b.dir, 'Manifest.db'));
  await writeFile(join(b.dir, 'Manifest.db'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(BackupReader.open(new NodeFsSource(b.dir)), (e: unknown) => e instanceof CorruptBackupError && /Manifest\.db/.test((e as Error).message));
});

test('encrypted Manifest.db (read in place, decrypted page by page) cut short or scrambled → CorruptBackupError naming it', async () => {
  for (const damage of ['cut to whole blocks', 'cut mid-block', 'scrambled header'] as const) {
    const b = await backup({ password: 'pw' });
    const path = join(b.dir, 'Manifest.db');
    const bytes = new Uint8Array(await readFile(path));
    const half = Math.floor(bytes.length / 32) * 16;
    if (damage === 'cut to whole blocks') await writeFile(path, bytes.subarray(0, half));
    else if (damage === 'cut mid-block') await writeFile(path, bytes.subarray(0, half + 5));
    else await writeFile(path, bytes.map((v, i) => (i < 64 ? v ^ 0x5a : v)));
    const reader = await BackupReader.open(new NodeFsSource(b.dir));
    try {
      await assert.rejects(reader.unlock('pw'), (e: unknown) => e instanceof CorruptBackupError && /Manifest\.db/.test((e as Error).message), damage);
      assert.ok(reader.locked, `${damage}: still locked, so the person can try again once the file is mended`);
    } finally {
      reader.close();
    }
  }
});

test('missing payload: the category names the file, verify reports it, the rest still works', async () => {
  const b = await backup({ omitPayloads: ['Library/SMS/sms.db'] });
  const reader = await BackupReader.open(new NodeFsSource(b.dir));
  try {
    await assert.rejects(readChats(reader), (e: unknown) => e instanceof MissingBackupFileError && /Library\/SMS\/sms\.db/.test((e as Error).message));
    const contents = await describeContents(reader);
    const messages = contents.categories.find((c) => c.id === 'messages')!;
    assert.match(messages.error!, /sms\.db/);
    assert.equal(contents.categories.find((c) => c.id === 'contacts')!.count, 2);
    const report = await verifyBackup(reader);
    assert.deepEqual(report.problems.map((p) => [p.relativePath, p.problem]), [['Library/SMS/sms.db', 'missing']]);
  } finally {
    reader.close();
  }
});

test('a payload of the wrong size is reported by verify (encrypted: against the padded size)', async () => {
  const b = await backup({ password: 'pw' });
  const path = payload(b.dir, 'AppDomain-com.example.app', 'Documents/hello.txt');
  const bytes = await readFile(path);
  assert.equal(bytes.length, 32); // 19 bytes → padded to 32
  await writeFile(path, bytes.subarray(0, 16));
  const reader = await BackupReader.open(new NodeFsSource(b.dir));
  await reader.unlock('pw');
  const report = await verifyBackup(reader);
  assert.deepEqual(report.problems.map((p) => [p.relativePath, p.expectedSize, p.actualSize]), [['Documents/hello.txt', 32, 16]]);
  reader.close();
});

test('corrupt category database → clear error naming it; other categories unaffected', async () => {
  const b = await backup();
  await writeFile(payload(b.dir, 'HomeDomain', 'Library/AddressBook/AddressBook.sqlitedb'), new TextEncoder().encode('SQLite format 3\0'.padEnd(200, 'x')));
  const reader = await BackupReader.open(new NodeFsSource(b.dir));
  try {
    await assert.rejects(readContacts(reader), (e: unknown) => e instanceof CorruptBackupError && /AddressBook\.sqlitedb/.test((e as Error).message));
    assert.equal((await readNotes(reader)).length, 1);
  } finally {
    reader.close();
  }
});

test('malformed Info.plist: reported as a problem, the backup still opens', async () => {
  const b = await backup();
  await writeFile(join(b.dir, 'Info.plist'), '<?xml version="1.0"?><plist><dict><key>oops');
  const reader = await BackupReader.open(new NodeFsSource(b.dir));
  const s = reader.summary();
  assert.match(s.problems.join(' '), /Info\.plist/);
  assert.equal(s.deviceName, 'Test iPhone'); // from Manifest.plist Lockdown
  assert.equal(reader.manifest.list('HomeDomain', 'Library/SMS').length, 2);
  reader.close();
});

test('keybag that does not parse → CorruptBackupError about the keybag', async () => {
  const b = await backup({ password: 'pw' });
  const manifest = decodePlist(await readFile(join(b.dir, 'Manifest.plist'))) as PlistDict;
  manifest['BackupKeyBag'] = new Uint8Array([0x56, 0x45, 0x52, 0x53, 0, 0, 0, 200, 1, 2]);
  await writeFile(join(b.dir, 'Manifest.plist'), encodeBinaryPlist(manifest));
  await assert.rejects(BackupReader.open(new NodeFsSource(b.dir)), (e: unknown) => e instanceof CorruptBackupError && /keybag/.test((e as Error).message));
});

test('zip that lies about sizes → CorruptBackupError naming the entry (stored and deflated)', async () => {
  const sink = new MemorySink();
  const zip = new ZipWriter(sink);
  await zip.addFile('dir/honest.txt', new TextEncoder().encode('honest'));
  await zip.addFile('dir/liar.txt', new TextEncoder().encode('liar liar'));
  await zip.finish();
  const bytes = sink.bytes();
  // Patch the central-directory uncompressed size of liar.txt.
  const view = new DataView(bytes.buffer);
  for (let i = bytes.length - 22; i >= 0; i--) {
    if (view.getUint32(i, true) === 0x02014b50 && new TextDecoder().decode(bytes.subarray(i + 46, i + 46 + 12)) === 'dir/liar.txt') {
      view.setUint32(i + 24, 5000, true);
    }
  }
  const source = await ZipSource.open(new Blob([bytes as Uint8Array<ArrayBuffer>]), 'test.zip');
  assert.equal(new TextDecoder().decode(await source.readFile('dir/honest.txt')), 'honest');
  await assert.rejects(source.readFile('dir/liar.txt'), (e: unknown) => e instanceof CorruptBackupError && /dir\/liar\.txt/.test((e as Error).message));

  // A deflated entry whose stated size is wrong, built by python's zipfile then patched.
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-zip-'));
  cleanup.push(dir);
  const path = join(dir, 'd.zip');
  const r = spawnSync('python3', ['-c', `import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED)\nz.writestr('a/big.txt','x'*10000)\nz.close()`, path]);
  assert.equal(r.status, 0, String(r.stderr));
  const deflated = new Uint8Array(await readFile(path));
  const good = await ZipSource.open(await openAsBlob(path), 'd.zip');
  assert.equal((await good.readFile('a/big.txt')).length, 10000);
  assert.equal(new TextDecoder().decode(await good.readRange('a/big.txt', 9990, 10000)), 'x'.repeat(10));
  const dv = new DataView(deflated.buffer);
  for (let i = deflated.length - 22; i >= 0; i--) if (dv.getUint32(i, true) === 0x02014b50) dv.setUint32(i + 24, 20000, true);
  const lying = await ZipSource.open(new Blob([deflated]), 'd.zip');
  await assert.rejects(lying.readFile('a/big.txt'), (e: unknown) => e instanceof CorruptBackupError && /a\/big\.txt/.test((e as Error).message));
  // Not a zip at all.
  await assert.rejects(ZipSource.open(new Blob([new Uint8Array(100)]), 'junk.zip'), CorruptBackupError);
});
