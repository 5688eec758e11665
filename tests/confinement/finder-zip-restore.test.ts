import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { fileSink } from '../../src/library/node/fs-target.ts';
import { exportFinderZip, finderFolderName } from '../../src/library/export/exports.ts';
import { startVirtualUsbmuxd, type VirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';
import { iphone, lifeboatBackup, SOURCE_UDID, TARGET_UDID, truthKeys } from '../restore/helpers.ts';

const PASSWORD = 'zip-sekret';

function tool(v: VirtualUsbmuxd, file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: v.address }, timeout: 90_000, maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

test("the Finder-compatible .zip of an encrypted backup stays encrypted, unzips to <UDID>/, and Debian's idevicebackup2 restores it", async () => {
  const source = iphone({ udid: SOURCE_UDID, seed: 5, backupPassword: PASSWORD });
  const backup = await lifeboatBackup(source);
  const work = await mkdtemp(join(tmpdir(), 'lifeboat-finder-zip-'));
  const target = iphone({ udid: TARGET_UDID, seed: 9 });
  const v = await startVirtualUsbmuxd({ iphone: target });
  try {
    const backupDir = join(backup.dir, SOURCE_UDID);
    const reader = await openBackupFolder(backupDir);
    try {
      assert.equal(reader.locked, true, 'exported without the password: a raw copy needs none');
      const zipPath = join(work, 'backup.zip');
      const result = await exportFinderZip(reader, fileSink(zipPath), { folder: finderFolderName(reader) });
      assert.equal(result.folder, SOURCE_UDID);
      assert.deepEqual(result.refused, []);
      assert.ok(result.files > 4);
    } finally {
      reader.close();
    }

    // Python's zipfile reads it (CRCs checked), and unzip lays out Finder's Backup folder.
    execFileSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None', join(work, 'backup.zip')]);
    const unzipped = join(work, 'Backup');
    execFileSync('unzip', ['-q', join(work, 'backup.zip'), '-d', unzipped]);
    assert.deepEqual(await readdir(unzipped), [SOURCE_UDID]);
    const someDir = (await readdir(backupDir)).find((n) => /^[0-9a-f]{2}$/.test(n))!;
    const somePayload = `${someDir}/${(await readdir(join(backupDir, someDir)))[0]}`;
    for (const name of ['Manifest.db', 'Manifest.plist', 'Info.plist', 'Status.plist', somePayload]) {
      assert.deepEqual(await readFile(join(unzipped, SOURCE_UDID, name)), await readFile(join(backupDir, name)), `${name} byte for byte (still encrypted)`);
    }

    assert.equal((await tool(v, '/usr/bin/idevicepair', ['pair'])).code, 0);
    const r = await tool(v, '/usr/bin/idevicebackup2', ['restore', '--source', SOURCE_UDID, '--password', PASSWORD, '--system', '--remove', '--no-reboot', unzipped]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Restore Successful/, r.out);
    const after = await (await target.backup.dataset()).truth(false);
    assert.deepEqual(truthKeys(after), truthKeys(await (await source.backup.dataset()).truth(false)), "the device's data is now the backed-up data");
  } finally {
    await v.close();
    await backup.cleanup();
    await rm(work, { recursive: true, force: true });
  }
});
