import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { decodePlist, type PlistDict } from '../../src/plist/index.ts';
import { installBackupServices } from '../../src/virtual-iphone/services/index.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

async function cli(argv: string[], env: Record<string, string>) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) }, env);
  return { code, out, err };
}

test('CLI over usbmuxd + real lockdown: pair, backup, encryption on, changepw, encrypted backup, encryption off', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-cli-backup-'));
  const iphone = new VirtualIPhone();
  const services = installBackupServices(iphone, { dataset: 'small', kdf: { dpic: 1000, iter: 10 } as never });
  const vu = await startVirtualUsbmuxd({ iphone });
  try {
    const env = { USBMUXD_SOCKET_ADDRESS: vu.address };
    const paired = await cli(['pair'], env);
    assert.equal(paired.code, 0, paired.err);
    const r = await cli(['backup', dir], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Backup complete: \d+ files/);
    const status = decodePlist(await readFile(join(dir, iphone.udid, 'Status.plist'))) as PlistDict;
    assert.equal(status.SnapshotState, 'finished');
    // Spot-check content against the device's truth.
    const truth = (await (await services.dataset()).truth(false)).filter((e) => e.kind === 'file').slice(0, 25);
    for (const e of truth) {
      const id = createHash('sha1').update(`${e.domain}-${e.relativePath}`).digest('hex');
      const bytes = await readFile(join(dir, iphone.udid, id.slice(0, 2), id));
      assert.equal(createHash('sha256').update(bytes).digest('hex'), e.sha256);
    }
    assert.equal((await cli(['encryption', 'on', 'pw1'], env)).code, 0);
    assert.equal((await cli(['changepw', 'pw1', 'pw2'], env)).code, 0);
    const wrong = await cli(['changepw', 'nope', 'pw3'], env);
    assert.notEqual(wrong.code, 0);
    const enc = await cli(['backup', dir], env);
    assert.equal(enc.code, 0, enc.err);
    assert.match(enc.out, /encrypted/);
    const manifest = decodePlist(await readFile(join(dir, iphone.udid, 'Manifest.plist'))) as PlistDict;
    assert.equal(manifest.IsEncrypted, true);
    assert.equal((await cli(['encryption', 'off', 'pw2'], env)).code, 0);
  } finally {
    await vu.close();
    await rm(dir, { recursive: true, force: true });
  }
});
