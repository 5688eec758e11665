import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ConnectionRefusedError, DeviceDisconnectedError, ProtocolError } from '../../src/core/errors.ts';
import { MuxConnection } from '../../src/usbmux/mux-connection.ts';
import { ECHO_PORT, SINK_PORT, SOURCE_PORT, CLOSING_PORT, lengthHeader } from './test-services.ts';
import { hexOf, interceptDevice, readAll, sleep, startHarness } from './harness.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';

test('version negotiation, SETUP and the first SYN are byte-exact', async () => {
  const outLog: Uint8Array[] = [];
  const h = await startHarness({
    host: { receiveWindow: 131072 },
    wrapDevice: (device) => interceptDevice(device, { outLog }),
  });
  h.iphone.ports.listen(62078, (stream) => void stream.close());
  try {
    assert.equal(h.connector.session.version, 2);
    assert.equal(hexOf(outLog[0]!), '0000000000000014000000020000000000000000');
    assert.equal(hexOf(outLog[1]!), '0000000200000011feedface0000ffff07');
    assert.equal(h.mux.stats.versionRequests, 1);
    assert.equal(h.mux.stats.setups, 1);
    const stream = await h.connector.connect(62078);
    assert.equal(hexOf(outLog[2]!), '00000006' + '00000024' + 'feedface' + '0001' + 'ffff' + '0001f27e' + '00000000' + '00000000' + '50' + '02' + '0200' + '0000' + '0000');
    // The pure ACK completing the handshake carries tx_seq 2 and acks the device's ISN + 1.
    const ack = new DataView(outLog[3]!.buffer);
    assert.equal(ack.getUint16(12), 2);
    assert.equal(ack.getUint8(16 + 13), 0x10);
    assert.equal(ack.getUint32(16 + 4), 1);
    await stream.close();
  } finally {
    await h.close();
  }
});

test('a v1 device (8-byte headers throughout) works too', async () => {
  const h = await startHarness({ mux: { version: 1 } });
  try {
    assert.equal(h.connector.session.version, 1);
    assert.equal(h.mux.stats.setups, 0);
    const echo = await h.connector.connect(ECHO_PORT);
    await echo.write(new TextEncoder().encode('v1 hello'));
    assert.equal(new TextDecoder().decode((await echo.read())!), 'v1 hello');
    await echo.close();
  } finally {
    await h.close();
  }
});

test('50 concurrent connections with interleaved traffic stay separate', async () => {
  const h = await startHarness();
  try {
    const streams = await Promise.all(Array.from({ length: 50 }, () => h.connector.connect(ECHO_PORT)));
    assert.equal(new Set(streams.map((s) => (s as MuxConnection).localPort)).size, 50);
    await Promise.all(
      streams.map(async (stream, i) => {
        const reader = new BufferedReader(stream);
        for (let round = 0; round < 10; round++) {
          const message = new Uint8Array(100 + ((i * 37 + round * 101) % 3000)).fill((i * 7 + round) & 0xff);
          message[0] = i;
          await stream.write(message);
          const back = await reader.readExactly(message.byteLength);
          assert.deepEqual(back, message);
          if (round % 5 === 0) await sleep(0);
        }
      }),
    );
    await Promise.all(streams.map((s) => s.close()));
    await sleep(5);
    assert.equal(h.connector.session.openConnections, 0);
    assert.equal(h.mux.openConnections, 0);
    assert.equal(h.mux.stats.sequenceErrors, 0);
  } finally {
    await h.close();
  }
});

test('100 MB device→host through one connection arrive intact (SHA-256)', async () => {
  const h = await startHarness();
  try {
    const stream = (await h.connector.connect(SOURCE_PORT)) as MuxConnection;
    const total = 100 * 1024 * 1024;
    await stream.write(lengthHeader(total));
    const hash = createHash('sha256');
    const received = await readAll(stream, (c) => void hash.update(c));
    assert.equal(received, total);
    assert.equal(h.services.sent[0]!.bytes, total);
    assert.equal(hash.digest('hex'), h.services.sent[0]!.sha256);
    assert.ok(stream.maxQueuedBytes <= h.connector.session.receiveWindow);
  } finally {
    await h.close();
  }
});

test('20 MB host→device arrive intact; the host never exceeds the device window or packet size', async () => {
  const h = await startHarness({ mux: { receiveWindow: 256 * 1024 } });
  try {
    const stream = await h.connector.connect(SINK_PORT);
    const total = 20 * 1024 * 1024;
    await stream.write(lengthHeader(total));
    const hash = createHash('sha256');
    for (let sent = 0; sent < total; ) {
      const chunk = new Uint8Array(Math.min(200_000, total - sent));
      globalThis.crypto.getRandomValues(chunk.subarray(0, Math.min(65536, chunk.byteLength)));
      chunk[chunk.byteLength - 1] = sent & 0xff;
      hash.update(chunk);
      await stream.write(chunk);
      sent += chunk.byteLength;
    }
    const digest = await new BufferedReader(stream).readExactly(32);
    assert.equal(hexOf(digest), hash.digest('hex'));
    assert.equal(h.mux.stats.windowViolations, 0);
    assert.equal(h.mux.stats.oversizedPackets, 0);
    assert.equal(h.mux.stats.sequenceErrors, 0);
    assert.ok(h.mux.stats.maxHostBytesOutstanding <= 256 * 1024);
    await stream.close();
  } finally {
    await h.close();
  }
});

test('a settled write holds none of its bytes (releasesWrites): one buffer refilled per write arrives intact', async () => {
  // A slow sink keeps the window full, so writes wait for room and packets are still in flight when the next fill starts.
  const h = await startHarness({ mux: { receiveWindow: 256 * 1024 }, sinkDelayMs: 1 });
  try {
    const stream = await h.connector.connect(SINK_PORT);
    assert.equal(stream.releasesWrites, true);
    const total = 8 * 1024 * 1024;
    await stream.write(lengthHeader(total));
    const hash = createHash('sha256');
    const reused = new Uint8Array(300_000);
    for (let sent = 0; sent < total; ) {
      const chunk = reused.subarray(0, Math.min(reused.byteLength, total - sent));
      globalThis.crypto.getRandomValues(chunk.subarray(0, 65536));
      chunk.fill(sent & 0xff, 65536);
      hash.update(chunk);
      await stream.write(chunk);
      sent += chunk.byteLength;
    }
    const digest = await new BufferedReader(stream).readExactly(32);
    assert.equal(hexOf(digest), hash.digest('hex'));
    await stream.close();
  } finally {
    await h.close();
  }
});

test('slow consumer: the device never sends beyond our window, memory stays bounded', async () => {
  const window = 64 * 1024;
  const h = await startHarness({ host: { receiveWindow: window } });
  try {
    const stream = (await h.connector.connect(SOURCE_PORT)) as MuxConnection;
    const total = 2 * 1024 * 1024;
    await stream.write(lengthHeader(total));
    const hash = createHash('sha256');
    let maxPendingIn = 0;
    const received = await readAll(stream, async (c) => {
      hash.update(c);
      maxPendingIn = Math.max(maxPendingIn, h.device.pendingInBytes);
      await sleep(1);
    });
    assert.equal(received, total);
    assert.equal(hash.digest('hex'), h.services.sent[0]!.sha256);
    assert.ok(stream.maxQueuedBytes <= window, `queued ${stream.maxQueuedBytes} > window ${window}`);
    assert.ok(maxPendingIn <= window + 64, `device queued ${maxPendingIn} bytes for a ${window}-byte window`);
  } finally {
    await h.close();
  }
});

test('a device that ignores our window is cut off with a ProtocolError instead of growing our memory', async () => {
  const window = 64 * 1024;
  const h = await startHarness({ host: { receiveWindow: window }, mux: { ignoreHostWindow: true } });
  try {
    const stream = (await h.connector.connect(SOURCE_PORT)) as MuxConnection;
    await stream.write(lengthHeader(4 * 1024 * 1024));
    await sleep(200); // nothing is read: a well-behaved device would stop at the window
    await assert.rejects(readAll(stream), (e: Error) => e instanceof ProtocolError && /receive window/.test(e.message));
    assert.ok(stream.maxQueuedBytes <= 2 * window + 65536, `queued ${stream.maxQueuedBytes} bytes for a ${window}-byte window`);
  } finally {
    await h.close();
  }
});

test('slow service: the host never has more than the device window outstanding', async () => {
  const deviceWindow = 64 * 1024;
  const h = await startHarness({ mux: { receiveWindow: deviceWindow }, sinkDelayMs: 1 });
  try {
    const stream = (await h.connector.connect(SINK_PORT)) as MuxConnection;
    const total = 1024 * 1024;
    const data = new Uint8Array(total).map((_, i) => (i * 31) & 0xff);
    await stream.write(lengthHeader(total));
    let maxInFlight = 0;
    const sampler = setInterval(() => (maxInFlight = Math.max(maxInFlight, stream.bytesInFlight)), 1);
    await stream.write(data);
    const digest = await new BufferedReader(stream).readExactly(32);
    clearInterval(sampler);
    assert.equal(hexOf(digest), createHash('sha256').update(data).digest('hex'));
    assert.equal(h.mux.stats.windowViolations, 0);
    assert.ok(h.mux.stats.maxHostBytesOutstanding <= deviceWindow);
    assert.ok(maxInFlight <= deviceWindow);
    await stream.close();
  } finally {
    await h.close();
  }
});

test('a port nobody listens on is refused with ConnectionRefusedError', async () => {
  const h = await startHarness();
  try {
    await assert.rejects(h.connector.connect(4242), (error: unknown) => error instanceof ConnectionRefusedError && error.port === 4242);
    assert.equal(h.mux.stats.connectionsRefused, 1);
    // The session is still usable afterwards.
    const echo = await h.connector.connect(ECHO_PORT);
    await echo.write(new Uint8Array([1, 2, 3]));
    assert.deepEqual(await echo.read(), new Uint8Array([1, 2, 3]));
  } finally {
    await h.close();
  }
});

test('the device closing a connection: data first, then end of stream', async () => {
  const h = await startHarness();
  try {
    const stream = await h.connector.connect(CLOSING_PORT);
    assert.equal(new TextDecoder().decode((await stream.read())!), 'bye');
    assert.equal(await stream.read(), null);
    await assert.rejects(stream.write(new Uint8Array(1)));
  } finally {
    await h.close();
  }
});

test('unplug mid-transfer rejects reads, writes and new connections with DeviceDisconnectedError', async () => {
  const h = await startHarness();
  let disconnectEvents = 0;
  h.usb.addEventListener('disconnect', () => disconnectEvents++);
  const stream = await h.connector.connect(SOURCE_PORT);
  await stream.write(lengthHeader(50 * 1024 * 1024));
  let received = 0;
  const reading = readAll(stream, (c) => {
    received += c.byteLength;
    if (received > 1024 * 1024 && !h.device.isUnplugged) h.usb.unplug(h.device);
  });
  await assert.rejects(reading, DeviceDisconnectedError);
  assert.ok(received < 50 * 1024 * 1024);
  assert.equal(disconnectEvents, 1);
  await assert.rejects(stream.write(new Uint8Array(10)), DeviceDisconnectedError);
  await assert.rejects(h.connector.connect(ECHO_PORT), DeviceDisconnectedError);
  await h.close();
});

test('stray packets for unknown connections are answered with RST', async () => {
  const h = await startHarness();
  try {
    const echo = (await h.connector.connect(ECHO_PORT)) as MuxConnection;
    // The device sends to a host port that has no connection: the host must reset it.
    h.mux.sendTcp({ sourcePort: ECHO_PORT, destinationPort: 999, seq: 77, ack: 0, flags: 0x10, window: 65536 });
    await sleep(5);
    assert.ok(h.logs.some((l) => l.includes('stray')));
    await echo.write(new Uint8Array([9]));
    assert.deepEqual(await echo.read(), new Uint8Array([9]));
  } finally {
    await h.close();
  }
});

test('device packets larger than one IN transfer are reassembled (16 KiB transfers, 64 KiB packets)', async () => {
  const h = await startHarness({ host: { transferSize: 16384 } });
  try {
    const stream = await h.connector.connect(SOURCE_PORT);
    const total = 3 * 1024 * 1024 + 123;
    await stream.write(lengthHeader(total));
    const hash = createHash('sha256');
    assert.equal(await readAll(stream, (c) => void hash.update(c)), total);
    assert.equal(hash.digest('hex'), h.services.sent[0]!.sha256);
  } finally {
    await h.close();
  }
});
