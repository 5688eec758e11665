import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBackup, fileIdOf } from './backup-generator.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { NodeFsTarget } from '../../src/library/node/fs-target.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { ZipSource } from '../../src/library/source/zip-source.ts';
import { findBackups, locateBackup } from '../../src/library/source/locate.ts';
import { DirectoryHandleSource, type DirectoryHandleLike, type FileHandleLike } from '../../src/library/source/directory-handle-source.ts';
import { readChats } from '../../src/library/categories/messages.ts';
import { exportFinderCopy } from '../../src/library/export/exports.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});
async function temp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lifeboat-src-'));
  cleanup.push(d);
  return d;
}

/** The File System Access handle shape over a real folder (what OPFS/showDirectoryPicker give in a browser). */
function nodeDirectoryHandle(path: string, name: string): DirectoryHandleLike {
  const notFound = () => Object.assign(new Error('not found'), { name: 'NotFoundError' });
  return {
    kind: 'directory',
    name,
    async getDirectoryHandle(child) {
      const s = await stat(join(path, child)).catch(() => null);
      if (!s?.isDirectory()) throw notFound();
      return nodeDirectoryHandle(join(path, child), child);
    },
    async getFileHandle(child) {
      const s = await stat(join(path, child)).catch(() => null);
      if (!s?.isFile()) throw notFound();
      return { kind: 'file', name: child, getFile: () => openAsBlob(join(path, child)) };
    },
    async *values() {
      for (const e of await readdir(path, { withFileTypes: true })) {
        if (e.isDirectory()) yield nodeDirectoryHandle(join(path, e.name), e.name);
        else yield { kind: 'file', name: e.name, getFile: () => openAsBlob(join(path, e.name)) } as FileHandleLike;
      }
    },
  };
}

test('MobileSync Backup parent with two <UDID> folders: both found; a zip and a directory handle read the same backup', async () => {
  const a = await generateBackup({ password: 'pw' });
  const b = await generateBackup();
  cleanup.push(a.dir, b.dir);
  const parent = await temp();
  await cp(a.dir, join(parent, 'Backup', '00008110-AAAA'), { recursive: true });
  await cp(b.dir, join(parent, 'Backup', '00008110-BBBB'), { recursive: true });

  const found = await findBackups(new NodeFsSource(join(parent, 'Backup')));
  assert.deepEqual(found.map((f) => f.path), ['00008110-AAAA', '00008110-BBBB']);
  assert.equal((await locateBackup(new NodeFsSource(parent))).path, 'Backup/00008110-AAAA');

  // Directory handle
  const viaHandle = await locateBackup(new DirectoryHandleSource(nodeDirectoryHandle(join(parent, 'Backup'), 'Backup')));
  const r1 = await BackupReader.open(viaHandle.source);
  // Its Manifest.db is decrypted as it is read, straight into SQLite's memory, and counted on the way.
  const unlockReports: [number, number][] = [];
  await r1.unlock('pw', (done, total) => unlockReports.push([done, total]));
  const encryptedSize = (await viaHandle.source.stat('Manifest.db'))!.size;
  assert.deepEqual(unlockReports[0], [0, encryptedSize]);
  assert.deepEqual(unlockReports.at(-1), [encryptedSize, encryptedSize]);
  assert.equal((await readChats(r1))[0]!.messageCount, 3);
  assert.equal(r1.summary().fileCount, a.files.filter((f) => f.kind === 'file').length);
  r1.close();
  // A plain backup through the handle: Manifest.db comes as a Blob, read into one reused buffer (blobChunks).
  const plainHandle = new DirectoryHandleSource(nodeDirectoryHandle(join(parent, 'Backup', '00008110-BBBB'), '00008110-BBBB'));
  assert.ok((await plainHandle.fileBlob('Manifest.db')) instanceof Blob);
  const reports: [number, number][] = [];
  const viaBlob = await BackupReader.open(plainHandle, { onManifestBytes: (done, total) => reports.push([done, total]) });
  const viaFs = await BackupReader.open(new NodeFsSource(b.dir));
  const manifestSize = (await plainHandle.stat('Manifest.db'))!.size;
  assert.deepEqual(reports[0], [0, manifestSize], 'the open says how much it will read before reading');
  assert.deepEqual(reports.at(-1), [manifestSize, manifestSize]);
  assert.ok(reports.every(([done], i) => i === 0 || done >= reports[i - 1]![0]), 'and only counts up');
  assert.deepEqual(viaBlob.manifest.domains(), viaFs.manifest.domains());
  assert.equal(viaBlob.summary().fileCount, viaFs.summary().fileCount);
  viaBlob.close();
  viaFs.close();

  // Zip (deflated, by python's zipfile)
  const zipPath = join(await temp(), 'backup.zip');
  const z = spawnSync('python3', ['-c', 'import shutil,sys; shutil.make_archive(sys.argv[1][:-4], "zip", sys.argv[2])', zipPath, parent]);
  assert.equal(z.status, 0, String(z.stderr));
  const zip = await ZipSource.open(await openAsBlob(zipPath), 'backup.zip');
  const viaZip = await findBackups(zip, 3);
  assert.deepEqual(viaZip.map((f) => f.path), ['Backup/00008110-AAAA', 'Backup/00008110-BBBB']);
  const r2 = await BackupReader.open(viaZip[1]!.source);
  const sms = b.files.find((f) => f.relativePath === 'Library/SMS/sms.db')!;
  assert.deepEqual(await r2.readFile(fileIdOf(sms.domain, sms.relativePath)), sms.content);
  assert.equal((await readChats(r2)).length, 1);
  r2.close();
});

test('streamed decryption across tiny chunks equals the content; Finder copy is byte-identical and reopens', async () => {
  const big = new Uint8Array(100_003).map((_, i) => (i * 31) & 255);
  const backup = await generateBackup({ password: 'pw', extra: [{ domain: 'AppDomain-com.example.app', relativePath: 'Documents/big.bin', kind: 'file', content: big }] });
  cleanup.push(backup.dir);
  const reader = await BackupReader.open(new NodeFsSource(backup.dir));
  await reader.unlock('pw');
  const id = fileIdOf('AppDomain-com.example.app', 'Documents/big.bin');
  for (const chunk of [16, 17, 4096, 1 << 20]) {
    const parts: Uint8Array[] = [];
    for await (const p of reader.streamFile(id, chunk)) parts.push(p);
    assert.deepEqual(Buffer.concat(parts), Buffer.from(big), `chunk ${chunk}`);
  }
  const out = await temp();
  let progressed = 0;
  await exportFinderCopy(reader, new NodeFsTarget(out), { progress: (d) => (progressed = d) });
  assert.ok(progressed > 0);
  reader.close();
  for (const name of ['Manifest.db', 'Manifest.plist', 'Info.plist', 'Status.plist', `${id.slice(0, 2)}/${id}`]) {
    assert.deepEqual(await readFile(join(out, name)), await readFile(join(backup.dir, name)), name);
  }
  const copy = await BackupReader.open(new NodeFsSource(out));
  await copy.unlock('pw');
  assert.deepEqual(await copy.readFile(id), big);
  copy.close();
});
