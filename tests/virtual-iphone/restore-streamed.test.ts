import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { StaticContent } from '../../src/virtual-iphone/dataset/content.ts';
import { fileIdFor } from '../../src/virtual-iphone/services/index.ts';
import { RESTORE_STREAM_BYTES } from '../../src/virtual-iphone/services/mobilebackup2/restore-agent.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

/**
 * The restore agent streams big payloads instead of holding them: the ios18-huge-file profile with its
 * video shrunk to just past RESTORE_STREAM_BYTES, so the streamed path runs in seconds.
 */
const VIDEO = 'Media/DCIM/100APPLE/IMG_9100.MOV';

test('restore: a payload past RESTORE_STREAM_BYTES is checked as it streams; one that differs from the device is refused, naming the byte', { timeout: 300_000 }, async () => {
  const iphone = new VirtualIPhone({ profile: 'ios18-huge-file', dataset: 'small', files: { bigFileBytes: RESTORE_STREAM_BYTES + 12_345 } });
  const v = await startVirtualUsbmuxd({ iphone });
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-restore-streamed-'));
  try {
    let err = '';
    const cli = (argv: string[]) => runCli(argv, { out: () => {}, err: (t) => (err += t) }, { USBMUXD_SOCKET_ADDRESS: v.address });
    assert.equal(await cli(['pair']), 0, err);
    assert.equal(await cli(['backup', dir]), 0, err);
    const before = (await iphone.backup.dataset()).get('CameraRollDomain', VIDEO)!;

    assert.equal(await cli(['restore', join(dir, iphone.udid), '--no-reboot']), 0, err);
    const after = (await iphone.backup.dataset()).get('CameraRollDomain', VIDEO)!;
    assert.equal(after.size, RESTORE_STREAM_BYTES + 12_345);
    assert.ok(!(after.content instanceof StaticContent), 'the big file was not collected in memory');
    assert.deepEqual(after.content, before.content, 'its bytes equalled the device’s own, which it keeps (the same generated content, not a copy of the bytes)');

    // One byte changed in the backup's copy: the device names the file and the first differing byte.
    iphone.reboot();
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the usbmuxd front re-attaches it after 500 ms
    const id = fileIdFor('CameraRollDomain', VIDEO);
    const payload = await open(join(dir, iphone.udid, id.slice(0, 2), id), 'r+');
    try {
      await payload.write(Uint8Array.of(before.content!.read(60_000_000, 1)[0]! ^ 0xff), 0, 1, 60_000_000);
    } finally {
      await payload.close();
    }
    err = '';
    assert.notEqual(await cli(['restore', join(dir, iphone.udid), '--no-reboot']), 0);
    assert.match(err, /IMG_9100\.MOV .*differs from the device's own copy at byte 60000000/);
  } finally {
    await v.close();
    await rm(dir, { recursive: true, force: true });
  }
});
