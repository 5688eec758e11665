import { test } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { createReadStream, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import type { FileContent } from '../../src/virtual-iphone/dataset/content.ts';
import { fileIdFor } from '../../src/virtual-iphone/services/index.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

/**
 * ios18-huge-file: one 4.1 GiB video through Lifeboat's host and Debian's idevicebackup2 — past every 32-bit length (DeviceLink
 * blocks carry u32 lengths; the file's total must not wrap) — backed up, opened in the library and
 * restored, then backed up by idevicebackup2 (the virtual restore agent compares the streamed payload with its own file, see
 * RESTORE_STREAM_BYTES). Writes 4.1 GiB to the temp folder (deleted at the end) and takes about
 * 2 minutes (116 s at load 1–2.5), and skips, saying why, when the temp disk has less than 2.5× the file free.
 * `npm run test:huge-file` runs it alone.
 */
const VIDEO = 'Media/DCIM/100APPLE/IMG_9100.MOV';
const CHUNK = 1 << 24;

/** Compares the file at `path` with `content` chunk by chunk; the offset of the first difference, or -1. */
async function firstDifference(path: string, content: FileContent): Promise<number> {
  const mine = Buffer.alloc(CHUNK);
  let offset = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) {
    const got = chunk as Buffer;
    const expected = mine.subarray(0, content.readInto(offset, mine.subarray(0, got.byteLength)));
    if (!got.equals(expected)) return offset;
    offset += got.byteLength;
  }
  return offset === content.size ? -1 : offset;
}

/** Runs a libimobiledevice tool against the virtual usbmuxd; its exit code and output (progress bars dropped). */
function tool(address: string, file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: address }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (chunk: Buffer) => {
      out = (out + chunk.toString('utf8')).slice(-100_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

const needed = 2.5 * 4.1 * 1024 ** 3;
test('ios18-huge-file: a 4.1 GiB file backs up whole, the library reports its size, and it restores', { timeout: 1_200_000 }, async (t) => {
  const free = await freeBytes(tmpdir());
  if (free < needed) {
    t.skip(`only ${(free / 1024 ** 3).toFixed(1)} GiB free in ${tmpdir()}; the huge-file cycle needs ${(needed / 1024 ** 3).toFixed(1)} GiB`);
    return;
  }
  const iphone = new VirtualIPhone({ profile: 'ios18-huge-file', dataset: 'small' });
  const v = await startVirtualUsbmuxd({ iphone });
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-huge-'));
  try {
    const env = { USBMUXD_SOCKET_ADDRESS: v.address };
    const io = { out: () => {}, err: (t: string) => process.stderr.write(t) };
    assert.equal(await runCli(['pair'], io, env), 0);
    let started = Date.now();
    assert.equal(await runCli(['backup', dir], io, env), 0);
    const backupSeconds = (Date.now() - started) / 1000;
    const entry = (await iphone.backup.dataset()).get('CameraRollDomain', VIDEO)!;
    assert.ok(entry.size > 4 * 1024 ** 3);
    const id = fileIdFor('CameraRollDomain', VIDEO);
    const payload = join(dir, iphone.udid, id.slice(0, 2), id);
    assert.equal(statSync(payload).size, entry.size, 'the whole file arrived');
    started = Date.now();
    assert.equal(await firstDifference(payload, entry.content!), -1, 'byte for byte');
    const compareSeconds = (Date.now() - started) / 1000;
    const reader = await openBackupFolder(join(dir, iphone.udid));
    try {
      assert.equal(reader.metadata(id)?.size, entry.size, 'Manifest.db Size past 2^32');
    } finally {
      reader.close();
    }
    started = Date.now();
    assert.equal(await runCli(['restore', join(dir, iphone.udid), '--no-reboot'], io, env), 0);
    const restoreSeconds = (Date.now() - started) / 1000;
    const restored = (await iphone.backup.dataset()).get('CameraRollDomain', VIDEO)!;
    assert.equal(restored.size, entry.size, 'the restored video keeps its 64-bit size');
    assert.deepEqual(restored.content, entry.content, 'the restore streamed in bytes equal to the device’s own (kept as its generated content, not a copy)');
    // Debian's idevicebackup2 next, into the same disk space: one copy of the big file at a time.
    await rm(join(dir, iphone.udid), { recursive: true, force: true });
    iphone.reboot(); // a restore without reboot blocks the next operation, as on a phone
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the usbmuxd front re-attaches it after 500 ms
    const theirs = join(dir, 'idevicebackup2');
    await mkdir(theirs);
    assert.equal((await tool(v.address, '/usr/bin/idevicepair', ['pair'])).code, 0);
    started = Date.now();
    const made = await tool(v.address, '/usr/bin/idevicebackup2', ['backup', '--full', theirs]);
    const theirSeconds = (Date.now() - started) / 1000;
    assert.match(made.out, /Backup Successful/, made.out.slice(-2000));
    assert.equal(await firstDifference(join(theirs, iphone.udid, id.slice(0, 2), id), entry.content!), -1, 'idevicebackup2: byte for byte');
    const theirReader = await openBackupFolder(join(theirs, iphone.udid));
    try {
      assert.equal(theirReader.metadata(id)?.size, entry.size, 'idevicebackup2 Manifest.db Size past 2^32');
    } finally {
      theirReader.close();
    }
    process.stderr.write(
      `4.1 GiB: backed up in ${backupSeconds.toFixed(0)} s, compared in ${compareSeconds.toFixed(0)} s, restored in ${restoreSeconds.toFixed(0)} s, idevicebackup2 ${theirSeconds.toFixed(0)} s\n`,
    );
  } finally {
    await v.close();
    await rm(dir, { recursive: true, force: true });
  }
});
