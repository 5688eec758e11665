import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { DeviceDisconnectedError } from '../../src/core/errors.ts';
import { MuxDeviceConnector } from '../../src/usbmux/mux-device-connector.ts';
import { FakeUsb } from '../../src/virtual-iphone/usb/fake-usb-device.ts';
import { connectWorkerUsbDevice, serveUsbDeviceOverPort, type MessagePortLike } from '../../src/virtual-iphone/usb/worker-bridge.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { readAll } from './harness.ts';
import { ECHO_PORT, SINK_PORT, SOURCE_PORT, lengthHeader, registerTestServices } from './test-services.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';

function bridge() {
  const channel = new MessageChannel();
  const iphone = new VirtualIPhone();
  const services = registerTestServices(iphone.ports);
  const served = serveUsbDeviceOverPort(channel.port2 as unknown as MessagePortLike, iphone);
  return { channel, iphone, services, served };
}

test('worker bridge: the page-side proxy carries the mux end to end', async () => {
  const { channel, services, served } = bridge();
  const device = await connectWorkerUsbDevice(channel.port1 as unknown as MessagePortLike);
  try {
    assert.equal(device.serialNumber, '00008030001A2B3C4D5E802E');
    assert.equal(device.configurations.length, 4);
    const usb = new FakeUsb([device]);
    const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb, log: () => {} });
    assert.equal(connector.device.udid, '00008030-001A2B3C4D5E802E');
    assert.equal(device.configuration?.configurationValue, 4);
    assert.equal(served.device.configuration?.configurationValue, 4);

    const echo = await connector.connect(ECHO_PORT);
    await echo.write(new TextEncoder().encode('through the worker'));
    assert.equal(new TextDecoder().decode((await echo.read())!), 'through the worker');

    const source = await connector.connect(SOURCE_PORT);
    const total = 8 * 1024 * 1024;
    await source.write(lengthHeader(total));
    const hash = createHash('sha256');
    assert.equal(await readAll(source, (c) => void hash.update(c)), total);
    assert.equal(hash.digest('hex'), services.sent[0]!.sha256);

    // Host → device: the page reuses its packet buffers once their transfers are done and the worker keeps
    // the copies that arrived by transfer; every byte must still arrive as written.
    const sink = await connector.connect(SINK_PORT);
    const upload = 6 * 1024 * 1024;
    await sink.write(lengthHeader(upload));
    const sent = createHash('sha256');
    for (let at = 0; at < upload; at += 300_000) {
      const chunk = new Uint8Array(Math.min(300_000, upload - at));
      globalThis.crypto.getRandomValues(chunk.subarray(0, 65536));
      chunk.fill(at & 0xff, 65536);
      sent.update(chunk);
      await sink.write(chunk);
    }
    assert.equal(Buffer.from(await new BufferedReader(sink).readExactly(32)).toString('hex'), sent.digest('hex'));
    await connector.close();
  } finally {
    device.dispose();
    served.close();
  }
});

test('worker bridge: unplug in the worker reaches the page as disconnect + DeviceDisconnectedError', async () => {
  const { channel, served } = bridge();
  const device = await connectWorkerUsbDevice(channel.port1 as unknown as MessagePortLike);
  try {
    const usb = new FakeUsb([device]);
    let disconnects = 0;
    usb.addEventListener('disconnect', () => disconnects++);
    const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb, log: () => {} });
    const source = await connector.connect(SOURCE_PORT);
    await source.write(lengthHeader(64 * 1024 * 1024));
    let received = 0;
    const reading = readAll(source, (c) => {
      received += c.byteLength;
      if (received >= 512 * 1024 && !served.device.isUnplugged) served.device.unplug();
    });
    await assert.rejects(reading, DeviceDisconnectedError);
    assert.equal(disconnects, 1);
    assert.equal(device.isUnplugged, true);
    await assert.rejects(device.transferIn(5, 512), { name: 'NotFoundError' });
    await connector.close();
  } finally {
    device.dispose();
    served.close();
  }
});

test('worker bridge: transfers issued or settled in the same task share one message', async () => {
  const { channel, services, served } = bridge();
  const device = await connectWorkerUsbDevice(channel.port1 as unknown as MessagePortLike);
  let transfersIn = 0;
  const transferIn = device.transferIn.bind(device);
  device.transferIn = (endpoint, length) => {
    transfersIn++;
    return transferIn(endpoint, length);
  };
  let toWorker = 0;
  let toPage = 0;
  channel.port2.on('message', () => toWorker++);
  channel.port1.on('message', () => toPage++);
  try {
    const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb: new FakeUsb([device]), log: () => {} });
    const source = await connector.connect(SOURCE_PORT);
    const total = 8 * 1024 * 1024;
    await source.write(lengthHeader(total));
    const hash = createHash('sha256');
    assert.equal(await readAll(source, (c) => void hash.update(c)), total);
    assert.equal(hash.digest('hex'), services.sent[0]!.sha256, 'batching keeps the bytes and their order');
    await connector.close();
    // 8 MiB is at least 128 IN transfers of 64 KiB; one message per transfer was the old cost.
    assert.ok(transfersIn >= 128, `${transfersIn} IN transfers`);
    assert.ok(toWorker * 2 < transfersIn, `${toWorker} messages to the worker for ${transfersIn} IN transfers`);
    assert.ok(toPage * 2 < transfersIn, `${toPage} messages to the page for ${transfersIn} IN transfers`);
  } finally {
    device.dispose();
    served.close();
  }
});
