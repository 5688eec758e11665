import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { NodeFsTarget } from '../../src/library/node/fs-target.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { ZipSource } from '../../src/library/source/zip-source.ts';
import { locateBackup } from '../../src/library/source/locate.ts';
import { MemorySink } from '../../src/library/export/byte-sink.ts';
import { entriesUnder, exportFinderCopy, exportFinderZip, exportTree, exportZip, finderFolderName } from '../../src/library/export/exports.ts';
import { ConfinedTree, PathRefusedError, confinedName, confinedParts, foldedKey, refusalSummary } from '../../src/core/confined-path.ts';
import { NodeFsBackend } from '../../src/stores/node/node-fs-backend.ts';
import { NodeFsBackupStore } from '../../src/stores/node/node-fs-backup-store.ts';
import { SessionFileSystem } from '../../src/backup/session-file-system.ts';
import { RestoreFileSystem } from '../../src/restore/restore-file-system.ts';
import { restoreSourceFromLibrary } from '../../src/restore/restore-source.ts';
import { collectBytes } from '../../src/core/bytes.ts';
import { APP, HOSTILE_ZIP_NAMES, UDID, benignTwins, hostileBackup, hostileZip, type HostileBackup } from './hostile-corpus.ts';

const scratch: string[] = [];
after(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});
async function temp(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `lifeboat-confine-${label}-`));
  scratch.push(dir);
  return dir;
}

let corpus: Promise<HostileBackup> | undefined;
function hostile(): Promise<HostileBackup> {
  corpus ??= hostileBackup().then((h) => {
    scratch.push(h.backup.dir, h.outside);
    return h;
  });
  return corpus;
}

/** Every regular file under `dir` (links not followed), relative, with its bytes. */
async function walk(dir: string, rel = ''): Promise<Map<string, Buffer | 'symlink'>> {
  const out = new Map<string, Buffer | 'symlink'>();
  for (const d of await readdir(join(dir, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${d.name}` : d.name;
    if (d.isSymbolicLink()) out.set(path, 'symlink');
    else if (d.isDirectory()) for (const [k, v] of await walk(dir, path)) out.set(k, v);
    else out.set(path, await readFile(join(dir, path)));
  }
  return out;
}

/**
 * Nothing escaped: the outside folder is empty and no "escaped" file sits next to or above `out`.
 * `decrypted`: `out` holds rows by name, so no hostile row's bytes may be in it (a raw Finder copy
 * holds every payload by its file ID, hostile rows' included: they are inert there).
 */
async function assertNothingEscaped(h: HostileBackup, out: string, decrypted = true): Promise<void> {
  assert.deepEqual(await readdir(h.outside), [], 'a file was written through a link into the outside folder');
  for (const dir of [dirname(out), dirname(dirname(out)), tmpdir(), '/tmp']) {
    const names = (await readdir(dir).catch(() => [])).filter((n) => n.startsWith('escaped'));
    assert.deepEqual(names, [], `escaped into ${dir}`);
  }
  if (decrypted) for (const [path, bytes] of await walk(out)) {
    if (bytes !== 'symlink') assert.ok(!bytes.toString('latin1').startsWith('escaped via'), `a hostile row was written: ${path}`);
  }
}

test('the gate: what confinedParts, confinedName and ConfinedTree refuse', () => {
  const reason = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      assert.ok(error instanceof PathRefusedError, String(error));
      return error.reason;
    }
    return 'accepted';
  };
  assert.deepEqual(confinedParts('a/b/c'), ['a', 'b', 'c']);
  assert.equal(reason(() => confinedParts('a/../b')), 'parent');
  assert.equal(reason(() => confinedParts('/etc/passwd')), 'absolute');
  assert.equal(reason(() => confinedParts('C:/x')), 'absolute');
  assert.equal(reason(() => confinedParts('a\\b')), 'backslash');
  assert.equal(reason(() => confinedParts('a\0b')), 'nul');
  assert.equal(reason(() => confinedParts('a//b')), 'empty');
  assert.equal(reason(() => confinedParts('a/./b')), 'dot');
  assert.equal(reason(() => confinedParts('')), 'empty');
  assert.deepEqual(confinedParts('/a//b/./', { strict: false }), ['a', 'b']);
  assert.equal(reason(() => confinedParts('a/../b', { strict: false })), 'parent');
  assert.equal(reason(() => confinedName('a/b')), 'not-a-name');
  assert.equal(foldedKey('Caf\u00e9'), foldedKey('cafe\u0301'));

  const tree = new ConfinedTree();
  tree.announceSymlink('D/link');
  assert.equal(tree.claim('D', 'directory'), 'D');
  assert.equal(reason(() => tree.claim('D/link/x', 'file')), 'through-symlink');
  assert.equal(reason(() => tree.claim('d/LINK/x', 'file')), 'through-symlink');
  assert.equal(reason(() => tree.claim('D/link', 'directory')), 'collision');
  assert.equal(tree.claim('D/link', 'symlink'), 'D/link');
  assert.equal(tree.claim('D/f', 'file'), 'D/f');
  assert.equal(reason(() => tree.claim('D/F', 'file')), 'collision');
  assert.equal(reason(() => tree.claim('D/f', 'file')), 'collision');
  assert.equal(reason(() => tree.claim('D/f/x', 'file')), 'collision');
  assert.equal(tree.claim('d', 'directory'), 'd'); // two spellings of one folder merge, nothing is lost
  assert.equal(refusalSummary(3, 'file', []), '3 files extracted.');
  assert.match(refusalSummary(1, 'file', [{ path: 'a\u001b[2J', reason: 'nul', message: '' }]), /^1 file extracted, 1 refused: “a\\x1b\[2J”\.$/);
});

test('CLI extract of a hostile backup: every hostile row refused by name, everything else extracted, nothing outside, exit 1', async () => {
  const h = await hostile();
  const out = join(await temp('extract'), 'out');
  const err: string[] = [];
  const stdout: string[] = [];
  const code = await runCli(['extract', h.backup.dir, out], { out: (t) => void stdout.push(t), err: (t) => void err.push(t) });
  const stderr = err.join('');
  assert.equal(code, 1, stderr);
  await assertNothingEscaped(h, out);

  // Each hostile row is named once, with its reason; so is the row whose fileID climbs out.
  const refusedLines = stderr.split('\n').filter((l) => /^(Refused|Skipped) “/.test(l));
  for (const { shown } of h.hostile) {
    const printable = shown.replace(/\0/g, '\\x00');
    assert.equal(refusedLines.filter((l) => l.includes(`“${printable}”`)).length, 1, `${printable} in:\n${stderr}`);
  }
  assert.ok(refusedLines.some((l) => l.includes(h.badFileId.shown) && l.includes(h.badFileId.fileID)), stderr);
  assert.equal(refusedLines.length, h.hostile.length + 1, stderr);
  const written = await walk(out);
  const wanted = h.backup.files.filter((f) => f.kind === 'file' && !h.hostile.some((x) => x.row === f) && `${f.domain}/${f.relativePath}` !== h.badFileId.shown);
  assert.match(stderr, new RegExp(`^${wanted.length} files extracted, ${h.hostile.length + 1} refused: `, 'm'));
  assert.match(stdout.join(''), new RegExp(`^Extracted ${wanted.length} files`));

  // Everything else came out, byte for byte, the twins included; links are links, never followed.
  for (const f of wanted) assert.deepEqual(new Uint8Array(written.get(`${f.domain}/${f.relativePath}`) as Buffer), f.content, `${f.domain}/${f.relativePath}`);
  for (const twin of benignTwins()) assert.ok(written.has(`${twin.domain}/${twin.relativePath}`));
  for (const link of h.backup.files.filter((f) => f.kind === 'symlink')) {
    assert.equal(await readlink(join(out, link.domain, link.relativePath)), link.target, link.relativePath);
  }

  // Run again into the same folder: its links from the first run are on disk now, and still not followed.
  const again = await runCli(['extract', h.backup.dir, out], { out: () => undefined, err: () => undefined });
  assert.equal(again, 1);
  await assertNothingEscaped(h, out);
  assert.deepEqual(new Uint8Array((await walk(out)).get(`${wanted[0]!.domain}/${wanted[0]!.relativePath}`) as Buffer), wanted[0]!.content);
});

test('extract into a folder with a planted symlink (and a planted file link): the row is refused, the outside untouched', async () => {
  const h = await hostile();
  const out = await temp('planted');
  await mkdir(join(out, 'HomeDomain', 'Library'), { recursive: true });
  await symlink(h.outside, join(out, 'HomeDomain', 'Library', 'SMS'));
  const victim = join(h.outside, 'victim.txt');
  await writeFile(victim, 'keep me');
  await mkdir(join(out, 'CameraRollDomain', 'Media', 'DCIM', '100APPLE'), { recursive: true });
  await symlink(victim, join(out, 'CameraRollDomain', 'Media', 'DCIM', '100APPLE', 'IMG_0001.JPG'));
  try {
    const reader = await openBackupFolder(h.backup.dir);
    try {
      const result = await exportTree(reader, entriesUnder(reader, '', ''), new NodeFsTarget(out));
      const planted = result.refused.filter((r) => r.path.startsWith('HomeDomain/Library/SMS/'));
      assert.ok(planted.length > 0 && planted.every((r) => r.reason === 'through-symlink'), JSON.stringify(result.refused));
      // A link sitting where a file goes is replaced by the file, not written through.
      assert.equal(await readFile(victim, 'utf8'), 'keep me');
      assert.ok((await lstat(join(out, 'CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG'))).isFile());
    } finally {
      reader.close();
    }
    assert.deepEqual(await readdir(h.outside), ['victim.txt']);
  } finally {
    await rm(victim, { force: true });
  }
});

test('zip export of a hostile backup holds only confined names, twins once, and names what it refused', async () => {
  const h = await hostile();
  const reader = await openBackupFolder(h.backup.dir);
  try {
    const sink = new MemorySink();
    const result = await exportZip(reader, entriesUnder(reader, '', ''), sink);
    assert.deepEqual(
      result.refused.map((r) => `${r.path} ${r.reason}`).sort(),
      [...h.hostile.map((x) => `${x.shown} ${x.reason}`), `${h.badFileId.shown} parent`].sort(),
    );
    for (const r of result.refused) assert.doesNotMatch(r.message, /[\u0000-\u001f]/, 'messages carry no control characters');
    const zip = await ZipSource.open(new Blob([sink.bytes() as Uint8Array<ArrayBuffer>]), 'export.zip');
    assert.deepEqual(zip.refused, []);
    assert.deepEqual((await zip.list(`${APP}/Documents`)).map((e) => e.name).sort(), ['NOTES.txt', 'cafe\u0301.txt', 'hello.txt'].sort());
  } finally {
    reader.close();
  }
});

test('Finder copy and Finder zip of a hostile backup: into <UDID>/, the climbing fileID refused, the copy opens', async () => {
  const h = await hostile();
  const reader = await openBackupFolder(h.backup.dir);
  const out = await temp('finder');
  try {
    assert.equal(finderFolderName(reader), UDID);
    const copy = await exportFinderCopy(reader, new NodeFsTarget(out), { folder: finderFolderName(reader) });
    assert.equal(copy.folder, UDID);
    assert.deepEqual(copy.refused.map((r) => [r.path, r.reason]), [[h.badFileId.shown, 'parent']]);
    assert.match(copy.refused[0]!.message, /escaped-fileid/);
    assert.deepEqual(await readdir(out), [UDID]);
    await assertNothingEscaped(h, out, false);
    const sink = new MemorySink();
    const zipped = await exportFinderZip(reader, sink, { folder: UDID });
    assert.equal(zipped.files, copy.files);
    const zip = await ZipSource.open(new Blob([sink.bytes() as Uint8Array<ArrayBuffer>]), 'finder.zip');
    assert.deepEqual((await zip.list('')).map((e) => e.name), [UDID]);
    const fromZip = await locateBackup(zip);
    assert.equal(fromZip.path, UDID);
  } finally {
    reader.close();
  }
  const reopened = await BackupReader.open(new NodeFsSource(join(out, UDID)));
  try {
    assert.equal(reopened.summary().udid, UDID);
    assert.deepEqual(await reopened.readByPath(APP, 'Documents/NOTES.txt'), benignTwins()[0]!.content);
  } finally {
    reopened.close();
  }
});

test('a hostile zip: its climbing, absolute, backslash, NUL and clashing entries are not listed but named; the backup in it still opens and copies', async () => {
  const h = await hostile();
  const bytes = await hostileZip(h.backup.dir);
  const zip = await ZipSource.open(new Blob([bytes as Uint8Array<ArrayBuffer>]), 'hostile.zip');
  assert.deepEqual(
    zip.refused.map((r) => [r.path, r.reason]),
    HOSTILE_ZIP_NAMES.map((x) => [x.name, x.reason]),
  );
  assert.deepEqual((await zip.list('')).map((e) => e.name), ['Backup']);
  assert.deepEqual((await zip.list('Backup')).map((e) => e.name), [UDID]);
  const located = await locateBackup(zip);
  const reader = await BackupReader.open(located.source);
  const out = await temp('zip-copy');
  try {
    const copy = await exportFinderCopy(reader, new NodeFsTarget(out), { folder: UDID });
    assert.deepEqual(copy.refused.map((r) => r.path), [h.badFileId.shown]);
    assert.deepEqual(await readFile(join(out, UDID, 'Info.plist')), await readFile(join(h.backup.dir, 'Info.plist')));
    await assertNothingEscaped(h, out, false);
  } finally {
    reader.close();
  }
});

test('the Node store refuses device paths that climb out, are absolute, or carry backslash or NUL', async () => {
  const root = await temp('store');
  const backend = new NodeFsBackend(join(root, 'store'));
  await backend.mkdirp('UDID');
  for (const path of ['../escaped-store.txt', 'UDID/../../escaped-store.txt', '/tmp/escaped-store.txt', 'UDID\\..\\..\\escaped-store.txt', 'UDID/escaped\0.txt', 'UDID//x']) {
    await assert.rejects(backend.createFile(path), (e: Error & { errno?: string }) => e.errno === 'EINVAL', path);
  }
  assert.deepEqual(await readdir(root), ['store']);
});

test('the Node store writes nothing through links planted inside it (a folder, a file) and says why', async () => {
  const root = await temp('planted-store');
  const outside = join(root, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'victim.txt'), 'keep me');
  const backend = new NodeFsBackend(join(root, 'store'));
  await backend.mkdirp('UDID');
  await symlink(outside, join(root, 'store', 'UDID', 'ab'));
  await symlink(join(outside, 'victim.txt'), join(root, 'store', 'UDID', 'file'));
  await assert.rejects(backend.mkdirp('UDID/ab/cd'), (e: Error & { errno?: string }) => e.errno === 'ELOOP' && /symbolic link/.test(e.message));
  await assert.rejects(backend.mkdirp('UDID/ab'), (e: Error & { errno?: string }) => e.errno === 'ELOOP');
  await assert.rejects(backend.createFile('UDID/file'), (e: Error & { errno?: string }) => e.errno === 'ELOOP');
  assert.deepEqual(await readdir(outside), ['victim.txt']);
  assert.equal(await readFile(join(outside, 'victim.txt'), 'utf8'), 'keep me');
  // A store folder reached through a link of its own (a home folder on another disk) is fine.
  const linkedRoot = join(root, 'linked-store');
  await symlink(join(root, 'store'), linkedRoot);
  const viaLink = new NodeFsBackend(linkedRoot);
  await viaLink.mkdirp('UDID/ef');
  const sink = await viaLink.createFile('UDID/ef/ok');
  await sink.close();
  assert.equal((await lstat(join(root, 'store', 'UDID', 'ef', 'ok'))).isFile(), true);
});

test('a hostile device: backup uploads and restore reads cannot leave the device\'s folder', async () => {
  const root = await temp('device');
  const store = await NodeFsBackupStore.open(join(root, 'store'));
  await writeFile(join(root, 'secret.txt'), 'not for the device');
  const session = new SessionFileSystem(await store.openSession(UDID));
  const climbing = [`${UDID}/../escaped-session.txt`, `${UDID}/../../escaped-session.txt`, `${UDID}/a/../../../escaped-session.txt`, `${UDID}/a\\..\\..\\escaped-session.txt`, `${UDID}/escaped\0.txt`, 'OTHER-UDID/escaped-session.txt'];
  for (const path of climbing) await assert.rejects(async () => session.createFile(path), (e: Error & { errno?: string }) => e.errno === 'EINVAL' || e.errno === 'ENOENT', path);
  const sink = await session.createFile(`${UDID}/fine.txt`);
  await sink.close();
  assert.deepEqual((await readdir(root)).sort(), ['secret.txt', 'store']);

  const h = await hostile();
  const restore = new RestoreFileSystem(restoreSourceFromLibrary(new NodeFsSource(h.backup.dir)), UDID);
  for (const path of [`${UDID}/../secret.txt`, `${UDID}/xx/../../secret.txt`, `${UDID}/a\\b`, `${UDID}/a\0b`, 'OTHER/Manifest.db']) {
    await assert.rejects(async () => collectBytes(restore.read(path, 1024)), (e: Error & { errno?: string }) => e.errno === 'ENOENT', path);
  }
  assert.ok((await collectBytes(restore.read(`${UDID}/Info.plist`, 1024))).length > 0);
});

test('a backup folder on disk with planted symlinks: reads through them are refused, not followed', async () => {
  const root = await temp('planted-source');
  const secret = join(root, 'secret.txt');
  await writeFile(secret, 'not for the device');
  const backupDir = join(root, 'backup');
  await mkdir(join(backupDir, 'ab'), { recursive: true });
  await writeFile(join(backupDir, 'ab', 'inside'), 'fine');
  await symlink(secret, join(backupDir, 'ab', 'link-to-secret'));
  await symlink(root, join(backupDir, 'cd'));
  const source = new NodeFsSource(backupDir);
  assert.equal(new TextDecoder().decode(await source.readFile('ab/inside')), 'fine');
  for (const path of ['ab/link-to-secret', 'cd/secret.txt']) {
    await assert.rejects(source.readFile(path), PathRefusedError, path);
    await assert.rejects(source.stat(path), PathRefusedError, path);
    await assert.rejects(collectBytes(source.stream(path)), PathRefusedError, path);
  }
  assert.deepEqual((await source.list('ab')).map((e) => e.name), ['inside']);
});

test('a backup folder reached through a symlink (moved to another disk) still reads', async () => {
  const h = await hostile();
  const link = join(await temp('linked-root'), 'Backup');
  await symlink(h.backup.dir, link);
  const reader = await openBackupFolder(link);
  try {
    assert.deepEqual(await reader.readByPath(APP, 'Documents/NOTES.txt'), benignTwins()[0]!.content);
    assert.equal((await reader.source.stat(''))?.kind, 'directory');
  } finally {
    reader.close();
  }
});

test('a backup whose Info.plist names its device "../…" gets no Finder copy, with a message that says why', async () => {
  const h = await hostile();
  const copy = await temp('hostile-udid');
  const { cp } = await import('node:fs/promises');
  await cp(h.backup.dir, copy, { recursive: true });
  const info = await readFile(join(copy, 'Info.plist'), 'utf8');
  await writeFile(join(copy, 'Info.plist'), info.replaceAll(UDID, '../../escaped-udid'));
  const reader = await openBackupFolder(copy);
  try {
    assert.throws(() => finderFolderName(reader), (e: unknown) => e instanceof PathRefusedError && /escaped-udid/.test(e.message));
  } finally {
    reader.close();
  }
});
