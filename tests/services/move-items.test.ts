import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlistReal, type PlistDict, type PlistValue } from '../../src/plist/index.ts';
import { MobileBackup2Client } from '../../src/services/mobilebackup2.ts';
import { SessionFileSystem } from '../../src/backup/session-file-system.ts';
import { NodeFsBackupStore } from '../../src/stores/node/node-fs-backup-store.ts';
import { handshake, scriptedProvider, type ScriptedDevice } from './scripted-device.ts';

const UDID = '00008030-001A2B3C4D5E802E';
const enc = new TextEncoder();
const dec = new TextDecoder();

async function statusCode(device: ScriptedDevice): Promise<number> {
  const reply = (await device.receive()) as PlistValue[];
  assert.equal(reply[0], 'DLMessageStatusResponse');
  return reply[1] as number;
}

test('MoveItems: an independent batch of many moves and a dependent chain both end where the device said', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-moves-'));
  try {
    const store = await NodeFsBackupStore.open(dir);
    const session = await store.openSession(UDID);
    for (let i = 0; i < 300; i++) await session.writeFile(`Snapshot/${String(i % 16).padStart(2, '0')}/f${i}`, enc.encode(`file ${i}`));
    await session.writeFile('a', enc.encode('A'));
    await session.writeFile('b', enc.encode('B'));
    const { provider, device } = scriptedProvider();
    const [client] = await Promise.all([MobileBackup2Client.start(provider), handshake(device)]);
    const loop = client.runLoop(new SessionFileSystem(session));

    const independent: PlistDict = {};
    for (let i = 0; i < 300; i++) {
      const xx = String(i % 16).padStart(2, '0');
      independent[`${UDID}/Snapshot/${xx}/f${i}`] = `${UDID}/${xx}/f${i}`;
    }
    await device.send(['DLMessageMoveItems', independent, {}, new PlistReal(95)]);
    assert.equal(await statusCode(device), 0);
    // b → c must happen before a → b, or A would be overwritten and B lost: order matters here.
    await device.send(['DLMessageMoveItems', { [`${UDID}/b`]: `${UDID}/c`, [`${UDID}/a`]: `${UDID}/b` }, {}, new PlistReal(96)]);
    assert.equal(await statusCode(device), 0);
    // A missing source fails the batch with ENOENT's DeviceLink code.
    await device.send(['DLMessageMoveItems', { [`${UDID}/nope`]: `${UDID}/x`, [`${UDID}/other`]: `${UDID}/y` }, {}, new PlistReal(97)]);
    assert.equal(await statusCode(device), -6);

    await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 0 }]);
    assert.equal((await loop).errorCode, 0);
    for (let i = 0; i < 300; i++) {
      const xx = String(i % 16).padStart(2, '0');
      assert.equal(dec.decode(await session.readFile(`${xx}/f${i}`)), `file ${i}`);
      assert.equal(await session.stat(`Snapshot/${xx}/f${i}`), null);
    }
    assert.equal(dec.decode(await session.readFile('b')), 'A');
    assert.equal(dec.decode(await session.readFile('c')), 'B');
    assert.equal(await session.stat('a'), null);
    await session.discard();
    await client.disconnect();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
