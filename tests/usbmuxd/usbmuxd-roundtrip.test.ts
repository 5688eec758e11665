import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { ConnectionRefusedError, DeviceDisconnectedError } from '../../src/core/errors.ts';
import { decodePlist, encodeBinaryPlist } from '../../src/plist/index.ts';
import { UsbmuxdClient, type UsbmuxdEvent } from '../../src/usbmux/node/usbmuxd-client.ts';
import { UsbmuxdDeviceConnector } from '../../src/usbmux/node/usbmuxd-device-connector.ts';
import { UsbmuxdUnavailableError } from '../../src/usbmux/node/usbmuxd-errors.ts';
import { encodeFrame, encodePlistFrame, readFrame, decodePlistBody } from '../../src/usbmux/node/usbmuxd-protocol.ts';
import { SocketByteStream } from '../../src/usbmux/node/socket-byte-stream.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

const ECHO_PORT = 5555;

/** A device service that echoes every byte back, upper-casing ASCII so the test sees it went through. */
function serveUpperEcho(stream: ByteStream): void {
  void (async () => {
    for (;;) {
      const chunk = await stream.read();
      if (chunk === null) break;
      await stream.write(Uint8Array.from(chunk, (b) => (b >= 0x61 && b <= 0x7a ? b - 32 : b)));
    }
    await stream.close();
  })();
}

async function readText(stream: ByteStream, length: number): Promise<string> {
  const reader = new BufferedReader(stream);
  return new TextDecoder().decode(await reader.readExactly(length));
}

function waitFor<T>(events: T[], predicate: (e: T) => boolean, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = (): void => {
      const hit = events.find(predicate);
      if (hit !== undefined) return resolve(hit);
      if (Date.now() - started > timeoutMs) return reject(new Error('event not seen'));
      setTimeout(poll, 5);
    };
    poll();
  });
}

for (const transport of ['unix', 'tcp'] as const) {
  test(`${transport}: ListDevices reports the virtual iPhone with usbmuxd's properties`, async () => {
    const vu = await startVirtualUsbmuxd({ tcp: transport === 'tcp' });
    try {
      if (transport === 'unix') assert.ok(vu.address.startsWith('UNIX:') && existsSync(vu.socketPath));
      else assert.match(vu.address, /^127\.0\.0\.1:\d+$/);
      const client = new UsbmuxdClient({ address: vu.address });
      const devices = await client.listDevices();
      assert.equal(devices.length, 1);
      assert.deepEqual(devices[0], {
        deviceId: vu.deviceId,
        udid: vu.iphone.udid,
        productId: 0x12a8,
        connectionType: 'USB',
        locationId: devices[0]!.locationId,
        connectionSpeed: 480000000,
      });
    } finally {
      await vu.close();
    }
    if (transport === 'unix') assert.equal(existsSync(vu.socketPath), false, 'close removes the socket');
  });

  test(`${transport}: Connect pipes bytes to a registered device port; a closed port is refused`, async () => {
    const vu = await startVirtualUsbmuxd({ tcp: transport === 'tcp' });
    try {
      vu.iphone.ports.listen(ECHO_PORT, serveUpperEcho);
      const connector = await UsbmuxdDeviceConnector.open({ address: vu.address });
      assert.equal(connector.device.udid, vu.iphone.udid);
      const stream = await connector.connect(ECHO_PORT);
      await stream.write(new TextEncoder().encode('hello, iphone'));
      assert.equal(await readText(stream, 13), 'HELLO, IPHONE');
      await stream.close();

      await assert.rejects(connector.connect(ECHO_PORT + 1), (e) => e instanceof ConnectionRefusedError && e.port === ECHO_PORT + 1);
      const client = new UsbmuxdClient({ address: vu.address });
      await assert.rejects(client.connect(999, ECHO_PORT), DeviceDisconnectedError);
    } finally {
      await vu.close();
    }
  });
}

test('Listen delivers current devices, then Attached, Detached and Paired as they happen', async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    const client = new UsbmuxdClient({ address: vu.address });
    const events: UsbmuxdEvent[] = [];
    const sub = await client.listen((e) => events.push(e));
    await waitFor(events, (e) => e.type === 'attached' && e.device.deviceId === vu.deviceId);

    const second = new VirtualIPhone({ udid: '00008101-000A1B2C3D4E5F60' });
    const secondId = vu.server.attach(second);
    assert.notEqual(secondId, vu.deviceId);
    const attached = await waitFor(events, (e) => e.type === 'attached' && e.device.deviceId === secondId);
    assert.equal(attached.type === 'attached' && attached.device.udid, second.udid);
    assert.equal((await client.listDevices()).length, 2);

    await client.savePairRecord(second.udid, encodeBinaryPlist({ HostID: 'H' }), secondId);
    await waitFor(events, (e) => e.type === 'paired' && e.deviceId === secondId);

    const listeners = await client.listListeners();
    assert.equal(listeners.length, 1);
    assert.equal(listeners[0]!['ProgName'], 'lifeboat');

    assert.equal(vu.server.detach(second), true);
    await waitFor(events, (e) => e.type === 'detached' && e.deviceId === secondId);
    assert.deepEqual((await client.listDevices()).map((d) => d.udid), [vu.iphone.udid]);

    await sub.close();
  } finally {
    await vu.close();
  }
});

test('unplugging drops open connections and new Connects fail with DeviceDisconnectedError', async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    let deviceSide: ByteStream | undefined;
    vu.iphone.ports.listen(ECHO_PORT, (s) => (deviceSide = s));
    const client = new UsbmuxdClient({ address: vu.address });
    const stream = await client.connect(vu.deviceId, ECHO_PORT);
    assert.ok(deviceSide);
    vu.server.detach(vu.iphone);
    const outcome = await stream.read().then(
      (v) => v,
      (e: unknown) => e,
    );
    assert.ok(outcome === null || outcome instanceof DeviceDisconnectedError, `read after unplug gave ${String(outcome)}`);
    assert.equal(await deviceSide.read(), null, 'the device side sees the connection close');
    await assert.rejects(client.connect(vu.deviceId, ECHO_PORT), DeviceDisconnectedError);
    await assert.rejects(UsbmuxdDeviceConnector.open({ address: vu.address }), /No iPhone is connected/);
  } finally {
    await vu.close();
  }
});

test('pair records are saved, read and deleted; the BUID is stable and persists in stateDir', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'lifeboat-usbmuxd-state-'));
  try {
    const record = encodeBinaryPlist({ HostID: 'ABC', SystemBUID: 'X', HostCertificate: new Uint8Array([1, 2, 3]) });
    let buid: string;
    {
      const vu = await startVirtualUsbmuxd({ stateDir });
      try {
        const client = new UsbmuxdClient({ address: vu.address });
        buid = await client.readBuid();
        assert.match(buid, /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
        assert.equal(await client.readBuid(), buid);
        assert.equal(await client.readPairRecord(vu.iphone.udid), null);
        await client.savePairRecord(vu.iphone.udid, record);
        assert.deepEqual(await client.readPairRecord(vu.iphone.udid), record);
        assert.deepEqual(new Uint8Array(readFileSync(join(stateDir, `${vu.iphone.udid}.plist`))), record);
        const config = decodePlist(new Uint8Array(readFileSync(join(stateDir, 'SystemConfiguration.plist'))));
        assert.deepEqual(config, { SystemBUID: buid });
      } finally {
        await vu.close();
      }
    }
    const vu = await startVirtualUsbmuxd({ stateDir });
    try {
      const client = new UsbmuxdClient({ address: vu.address });
      assert.equal(await client.readBuid(), buid, 'same BUID after a restart');
      assert.deepEqual(await client.readPairRecord(vu.iphone.udid), record, 'record survives a restart');
      await client.deletePairRecord(vu.iphone.udid);
      assert.equal(await client.readPairRecord(vu.iphone.udid), null);
      assert.equal(existsSync(join(stateDir, `${vu.iphone.udid}.plist`)), false);
      await client.deletePairRecord(vu.iphone.udid); // idempotent
    } finally {
      await vu.close();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('protocol edges: unknown MessageType → 1, bad header version → 6, bad record id → EINVAL, oversize → hang up', async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    const socket = createConnection(vu.socketPath);
    await new Promise((r) => socket.once('connect', r));
    const stream = new SocketByteStream(socket);
    const reader = new BufferedReader(stream);

    await stream.write(encodePlistFrame(7, { MessageType: 'Bogus' }));
    let frame = (await readFrame(reader))!;
    assert.equal(frame.header.tag, 7);
    assert.deepEqual(decodePlistBody(frame), { MessageType: 'Result', Number: 1 });

    await stream.write(encodeFrame(2, 8, 9, new Uint8Array(0)));
    frame = (await readFrame(reader))!;
    assert.deepEqual(frame.header, { length: 20, version: 0, message: 1, tag: 9 });
    assert.equal(new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint32(0, true), 6);

    await stream.write(encodePlistFrame(10, { MessageType: 'ReadPairRecord', PairRecordID: '../etc/passwd' }));
    assert.deepEqual(decodePlistBody((await readFrame(reader))!), { MessageType: 'Result', Number: 22 });

    // A length beyond usbmuxd's 64 KiB command buffer is not buffered: the daemon hangs up.
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(0, 0x7fffffff, true);
    await stream.write(huge);
    assert.equal(await stream.read(), null);
    await stream.close();
  } finally {
    await vu.close();
  }
});

test('a missing socket gives UsbmuxdUnavailableError naming the address and USBMUXD_SOCKET_ADDRESS', async () => {
  const client = new UsbmuxdClient({ address: `UNIX:${join(tmpdir(), 'lifeboat-no-such-usbmuxd.sock')}` });
  await assert.rejects(client.listDevices(), (e: unknown) => {
    assert.ok(e instanceof UsbmuxdUnavailableError);
    assert.match(e.message, /usbmuxd is not running at UNIX:.*lifeboat-no-such-usbmuxd\.sock/);
    assert.match(e.action ?? '', /USBMUXD_SOCKET_ADDRESS/);
    return true;
  });
  const saved = process.env['USBMUXD_SOCKET_ADDRESS'];
  process.env['USBMUXD_SOCKET_ADDRESS'] = '127.0.0.1:1';
  try {
    assert.equal(new UsbmuxdClient().addressText, '127.0.0.1:1');
    await assert.rejects(new UsbmuxdClient().readBuid(), UsbmuxdUnavailableError);
  } finally {
    if (saved === undefined) delete process.env['USBMUXD_SOCKET_ADDRESS'];
    else process.env['USBMUXD_SOCKET_ADDRESS'] = saved;
  }
});

test('a rebooting virtual iPhone is Detached, then Attached again under a new DeviceID, and serves again', async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    vu.iphone.ports.listen(ECHO_PORT, serveUpperEcho);
    const client = new UsbmuxdClient({ address: vu.address });
    const events: UsbmuxdEvent[] = [];
    const sub = await client.listen((e) => events.push(e));
    await waitFor(events, (e) => e.type === 'attached' && e.device.deviceId === vu.deviceId);
    const before = await UsbmuxdDeviceConnector.open({ address: vu.address });
    const open = await before.connect(ECHO_PORT);

    vu.iphone.reboot();
    await waitFor(events, (e) => e.type === 'detached' && e.deviceId === vu.deviceId);
    assert.equal(await open.read(), null, 'connections drop with the reboot');
    const back = await waitFor(events, (e) => e.type === 'attached' && e.device.deviceId !== vu.deviceId);
    assert.equal(back.type === 'attached' && back.device.udid, vu.iphone.udid);
    assert.deepEqual((await client.listDevices()).map((d) => d.udid), [vu.iphone.udid]);

    const after = await UsbmuxdDeviceConnector.open({ address: vu.address });
    const stream = await after.connect(ECHO_PORT);
    await stream.write(new TextEncoder().encode('back'));
    assert.equal(await readText(stream, 4), 'BACK');
    await stream.close();
    await sub.close();
  } finally {
    await vu.close();
  }
});
