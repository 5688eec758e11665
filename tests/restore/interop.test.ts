import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { UsbmuxdClient } from '../../src/usbmux/node/usbmuxd-client.ts';
import { startVirtualUsbmuxd, type VirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';
import { iphone, lifeboatBackup, SOURCE_UDID, TARGET_UDID, truthKeys } from './helpers.ts';

function tool(v: VirtualUsbmuxd, file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: v.address }, timeout: 90_000, maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

async function cli(argv: string[], v: VirtualUsbmuxd): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { USBMUXD_SOCKET_ADDRESS: v.address });
  return { code, out, err };
}

test("Debian's idevicebackup2 restores a Lifeboat-made backup into a fresh iPhone; Find My on is refused with 211", async () => {
  const source = iphone({ udid: SOURCE_UDID, seed: 5 });
  const backup = await lifeboatBackup(source);
  const target = iphone({ udid: TARGET_UDID, seed: 9 });
  const v = await startVirtualUsbmuxd({ iphone: target });
  try {
    const before = await (await target.backup.dataset()).truth(false);
    assert.notDeepEqual(truthKeys(before), truthKeys(backup.truth), 'the target starts with other data');
    assert.equal((await tool(v, '/usr/bin/idevicepair', ['pair'])).code, 0);

    target.values.domains['com.apple.fmip'] = { IsAssociated: true };
    const refused = await tool(v, '/usr/bin/idevicebackup2', ['restore', '--source', SOURCE_UDID, '--system', '--remove', '--no-reboot', backup.dir]);
    assert.match(refused.out, /ErrorCode 211/, refused.out);
    assert.deepEqual(truthKeys(await (await target.backup.dataset()).truth(false)), truthKeys(before), 'nothing changed');

    target.values.domains['com.apple.fmip'] = { IsAssociated: false };
    const r = await tool(v, '/usr/bin/idevicebackup2', ['restore', '--source', SOURCE_UDID, '--system', '--remove', '--no-reboot', backup.dir]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Restore Successful/, r.out);
    const after = await (await target.backup.dataset()).truth(false);
    assert.deepEqual(truthKeys(after), truthKeys(backup.truth), "the device's data is now the backed-up data");
    assert.deepEqual((await target.backup.dataset()).apps.map((a) => a.bundleId).sort(), (await source.backup.dataset()).apps.map((a) => a.bundleId).sort());
  } finally {
    await v.close();
    await backup.cleanup();
  }
});

test("Lifeboat's CLI restores an idevicebackup2-made backup; a second restore needs a reboot (102); reboot drops the link", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-restore-cli-'));
  const source = iphone({ udid: SOURCE_UDID, seed: 7 });
  const sv = await startVirtualUsbmuxd({ iphone: source });
  const target = iphone({ udid: TARGET_UDID, seed: 11 });
  const tv = await startVirtualUsbmuxd({ iphone: target });
  try {
    assert.equal((await tool(sv, '/usr/bin/idevicepair', ['pair'])).code, 0);
    const made = await tool(sv, '/usr/bin/idevicebackup2', ['backup', '--full', dir]);
    assert.match(made.out, /Backup Successful/, made.out);
    const truth = await (await source.backup.dataset()).truth(false);

    assert.equal((await cli(['pair'], tv)).code, 0);
    // BACKUP_DIR may be the <UDID> folder itself.
    const r = await cli(['restore', join(dir, SOURCE_UDID), '--system', '--remove', '--no-reboot'], tv);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Restore complete: \d+ files/);
    assert.deepEqual(truthKeys(await (await target.backup.dataset()).truth(false)), truthKeys(truth));
    assert.equal(target.bootCount, 0);

    const again = await cli(['restore', dir, '--source', SOURCE_UDID, '--system', '--remove'], tv);
    assert.notEqual(again.code, 0);
    assert.match(again.err, /must restart.*102/s, again.err);

    target.reboot();
    // usbmuxd shows the restart: the phone leaves the bus and comes back under a new DeviceID.
    const listing = () => new UsbmuxdClient({ address: tv.address }).listDevices();
    assert.deepEqual(await listing(), [], 'away while it restarts');
    for (let waited = 0; (await listing()).length === 0; waited += 50) {
      assert.ok(waited < 5000, 'the phone came back after its restart');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const third = await cli(['restore', dir, '--source', SOURCE_UDID, '--system', '--remove'], tv);
    assert.equal(third.code, 0, third.err);
    assert.match(third.out, /restarts now/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(target.bootCount, 2, 'RestoreShouldReboot restarted the phone');
    assert.deepEqual(truthKeys(await (await target.backup.dataset()).truth(false)), truthKeys(truth));
  } finally {
    await sv.close();
    await tv.close();
    await rm(dir, { recursive: true, force: true });
  }
});
