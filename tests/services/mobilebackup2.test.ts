import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlistReal, type PlistDict, type PlistValue } from '../../src/plist/index.ts';
import { MobileBackup2Client } from '../../src/services/mobilebackup2.ts';
import { SessionFileSystem } from '../../src/backup/session-file-system.ts';
import { NodeFsBackupStore } from '../../src/stores/node/node-fs-backup-store.ts';
import { scriptedProvider, uploadEntry, u32, type ScriptedDevice } from './scripted-device.ts';

const UDID = '00008030-001A2B3C4D5E802E';

async function handshake(device: ScriptedDevice): Promise<PlistValue> {
  await device.send(['DLMessageVersionExchange', 400, 0]);
  const ok = await device.receive();
  assert.deepEqual(ok, ['DLMessageVersionExchange', 'DLVersionsOk', 400]);
  await device.send(['DLMessageDeviceReady']);
  const hello = await device.receive();
  await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 0, ProtocolVersion: new PlistReal(2.1) }]);
  return hello;
}

test('handshake: DLVersionsOk 400, Hello with real protocol versions, escrow bag requested', async () => {
  const { provider, device, started } = scriptedProvider();
  const [client, hello] = await Promise.all([MobileBackup2Client.start(provider), handshake(device)]);
  assert.deepEqual(started, ['com.apple.mobilebackup2+escrow']);
  assert.ok(Array.isArray(hello) && hello[0] === 'DLMessageProcessMessage');
  const dict = hello[1] as PlistDict;
  assert.equal(dict.MessageName, 'Hello');
  const versions = dict.SupportedProtocolVersions as PlistValue[];
  assert.ok(versions.every((v) => v instanceof PlistReal), 'versions must be reals');
  assert.deepEqual(versions.map((v) => (v as PlistReal).value), [2.0, 2.1]);
  assert.equal(client.protocolVersion, 2.1);
  await client.disconnect();
});

test('handshake fails clearly when the device does not become ready or refuses Hello', async () => {
  {
    const { provider, device } = scriptedProvider();
    const script = (async () => {
      await device.send(['DLMessageVersionExchange', 400, 0]);
      await device.receive();
      await device.send(['DLMessageProcessMessage', {}]);
    })();
    await assert.rejects(MobileBackup2Client.start(provider), /DLMessageDeviceReady/);
    await script;
  }
  {
    const { provider, device } = scriptedProvider();
    const script = (async () => {
      await device.send(['DLMessageVersionExchange', 400, 0]);
      await device.receive();
      await device.send(['DLMessageDeviceReady']);
      await device.receive();
      await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 1 }]);
    })();
    await assert.rejects(MobileBackup2Client.start(provider), /none of our protocol versions/);
    await script;
  }
});

/** Reads a StatusResponse and returns [status, message, payload]. */
async function status(device: ScriptedDevice): Promise<[number, string, PlistValue]> {
  const m = (await device.receive()) as PlistValue[];
  assert.equal(m[0], 'DLMessageStatusResponse');
  return [m[1] as number, m[2] as string, m[3]!];
}

test('DL loop: every device request against a real store session', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-dl-'));
  try {
    const store = await NodeFsBackupStore.open(dir);
    const session = await store.openSession(UDID);
    const fs = new SessionFileSystem(session);
    const { provider, device } = scriptedProvider();
    const [client] = await Promise.all([MobileBackup2Client.start(provider), handshake(device)]);
    const warnings: string[] = [];
    const received: string[] = [];
    const progress: number[] = [];
    let bytes = 0;
    const loop = client.runLoop(fs, {
      onWarning: (w) => warnings.push(w),
      onFileReceived: (p) => received.push(p),
      onBytesReceived: (n) => (bytes += n),
      onProgress: (p) => progress.push(p),
    });

    // Missing Status.plist (a first backup): -6 inside a -13 multi-status, terminator always sent.
    await device.send(['DLMessageDownloadFiles', [`${UDID}/Status.plist`], { DLDeviceIOCallbacks: 0 }, new PlistReal(0), 0]);
    const first = await device.readDownloadStream();
    assert.ok(first.get(`${UDID}/Status.plist`)?.error);
    const rawStatus = await device.receiveRaw();
    // -13 must be a signed 64-bit integer: marker 0x13 then ff ff ff ff ff ff ff f3.
    assert.ok(Buffer.from(rawStatus).includes(Buffer.from([0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf3])));
    const { decodePlist } = await import('../../src/plist/index.ts');
    const ms = decodePlist(rawStatus) as PlistValue[];
    assert.equal(ms[1], -13);
    assert.equal(ms[2], 'Multi status');
    const errs = ms[3] as PlistDict;
    assert.equal((errs[`${UDID}/Status.plist`] as PlistDict).DLFileErrorCode, -6);

    // Empty DownloadFiles list: still the terminator and a status.
    await device.send(['DLMessageDownloadFiles', [], { DLDeviceIOCallbacks: 0 }, new PlistReal(0), 0]);
    assert.equal((await device.readDownloadStream()).size, 0);
    assert.equal((await status(device))[0], 0);

    await device.send(['DLMessageGetFreeDiskSpace']);
    const [fsStatus, , free] = await status(device);
    assert.equal(fsStatus, 0);
    assert.ok(typeof free === 'number' && free > 0);

    await device.send(['DLMessagePurgeDiskSpace', 3_000_000_000, 4]);
    const [purge, purgeText] = await status(device);
    assert.equal(purge, -1);
    assert.equal(purgeText, 'Operation not supported');

    await device.send(['DLMessageCreateDirectory', `${UDID}/Snapshot/ab`]);
    assert.equal((await status(device))[0], 0);

    // Upload: a 100 KiB file in uneven blocks, an empty file, a file the device fails to send, delivered in dribbles.
    const big = new Uint8Array(100 * 1024).map((_, i) => (i * 7) & 0xff);
    const batch = Buffer.concat([
      uploadEntry(`${UDID}/Snapshot/ab/abcdef`, big, 30000),
      uploadEntry(`${UDID}/Snapshot/Status.plist`, new Uint8Array(0)),
      uploadEntry(`${UDID}/Snapshot/ab/broken`, new Uint8Array([1, 2, 3]), 2, { remoteError: 'Operation not permitted' }),
      u32(0),
    ]);
    await device.send(['DLMessageUploadFiles', {}, new PlistReal(42.5), batch.byteLength]);
    for (let at = 0; at < batch.byteLength; at += 7777) await device.write(batch.subarray(at, at + 7777));
    // A small batch is answered once it is all read, and stored before the next message is read.
    assert.equal((await status(device))[0], 0);

    await device.send(['DLContentsOfDirectory', `${UDID}/Snapshot/ab`]);
    const [lsStatus, , listing] = await status(device);
    assert.equal(lsStatus, 0);
    // Storage work is pipelined, so files may finish in any order.
    assert.deepEqual([...received].sort(), [`${UDID}/Snapshot/Status.plist`, `${UDID}/Snapshot/ab/abcdef`]);
    assert.ok(warnings.some((w) => w.includes('broken') && w.includes('Operation not permitted')));
    assert.equal(bytes, big.byteLength + 3);
    assert.deepEqual(progress, [0, 0, 42.5]);
    assert.deepEqual(Object.keys(listing as PlistDict), ['abcdef']);
    const entry = (listing as PlistDict).abcdef as PlistDict;
    assert.equal(entry.DLFileType, 'DLFileTypeRegular');
    assert.equal(entry.DLFileSize, big.byteLength);
    assert.ok(entry.DLFileModificationDate instanceof Date);

    // Download of an existing file: ≤ 32 KiB blocks, exact content.
    await device.send(['DLMessageDownloadFiles', [`${UDID}/Snapshot/ab/abcdef`], {}, new PlistReal(1), 0]);
    const got = (await device.readDownloadStream()).get(`${UDID}/Snapshot/ab/abcdef`)!;
    assert.deepEqual(new Uint8Array(got.data!), big);
    assert.ok(got.blockSizes.every((n) => n <= 32 * 1024));
    assert.equal((await status(device))[0], 0);

    await device.send(['DLMessageCopyItem', `${UDID}/Snapshot/ab`, `${UDID}/Snapshot/cd`]);
    assert.equal((await status(device))[0], 0);
    await device.send(['DLContentsOfDirectory', `${UDID}/Snapshot/cd`]);
    const copied = (await status(device))[2] as PlistDict;
    assert.equal((copied.abcdef as PlistDict).DLFileSize, big.byteLength);

    await device.send(['DLMessageMoveItems', { [`${UDID}/Snapshot/ab/abcdef`]: `${UDID}/ab/abcdef`, [`${UDID}/Snapshot/Status.plist`]: `${UDID}/Status.plist` }, {}, new PlistReal(90), 0]);
    assert.equal((await status(device))[0], 0);

    await device.send(['DLMessageMoveItems', { [`${UDID}/nope`]: `${UDID}/elsewhere` }, {}, new PlistReal(90), 0]);
    const [mvStatus, mvText] = await status(device);
    assert.equal(mvStatus, -6);
    assert.match(mvText, /No such file/);

    await device.send(['DLMessageRemoveItems', [`${UDID}/Snapshot`, `${UDID}/never-existed`], {}, new PlistReal(95), 0]);
    assert.equal((await status(device))[0], 0);

    await device.send(['DLMessageFrobnicate', 1]);
    assert.equal((await status(device))[0], -1);

    await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 0 }]);
    const result = await loop;
    assert.equal(result.errorCode, 0);
    await client.disconnect();

    await session.commit();
    assert.deepEqual(new Uint8Array(await readFile(join(dir, UDID, 'ab', 'abcdef'))), big);
    assert.equal((await stat(join(dir, UDID, 'Status.plist'))).size, 0);
    await assert.rejects(stat(join(dir, UDID, 'Snapshot')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('DL loop ends with a clear error when the device disconnects, and final error codes come back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-dl-'));
  try {
    const store = await NodeFsBackupStore.open(dir);
    const session = await store.openSession(UDID);
    const fs = new SessionFileSystem(session);
    {
      const { provider, device } = scriptedProvider();
      const [client] = await Promise.all([MobileBackup2Client.start(provider), handshake(device)]);
      const loop = client.runLoop(fs);
      await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 208, ErrorDescription: 'Passcode not entered' }]);
      const r = await loop;
      assert.equal(r.errorCode, 208);
      assert.equal(r.errorDescription, 'Passcode not entered');
      await client.disconnect();
    }
    {
      const { provider, device } = scriptedProvider();
      const [client] = await Promise.all([MobileBackup2Client.start(provider), handshake(device)]);
      const loop = client.runLoop(fs);
      await device.send(['DLMessageDisconnect', '___EmptyParameterString___']);
      await assert.rejects(loop, /ended the session/);
      await client.disconnect();
    }
    {
      // Cancel while the device is silent: the loop stops at once.
      const { provider, device } = scriptedProvider();
      const [client] = await Promise.all([MobileBackup2Client.start(provider), handshake(device)]);
      const ac = new AbortController();
      const loop = client.runLoop(fs, {}, ac.signal);
      setTimeout(() => ac.abort(), 20);
      await assert.rejects(loop, (e: Error) => (e as { code?: string }).code === 'cancelled');
      await client.disconnect();
      const bye = (await device.receive()) as PlistValue[];
      assert.equal(bye[0], 'DLMessageDisconnect');
    }
    await session.discard();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
