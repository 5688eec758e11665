// IN transfer buffers are reused (device pool ← host releases) only once the host holds no view of
// them: consumers that copy out (readInto) give them back, consumers that own chunks (read) never do.
// The same holds the other way for OUT transfers the page lends the phone across the worker bridge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import type { MuxConnection } from '../../src/usbmux/mux-connection.ts';
import { MuxDeviceConnector } from '../../src/usbmux/mux-device-connector.ts';
import { TransferLease } from '../../src/usbmux/transfer-lease.ts';
import type { DeviceMux } from '../../src/virtual-iphone/usb/device-mux.ts';
import { FakeUsb } from '../../src/virtual-iphone/usb/fake-usb-device.ts';
import { TransferBufferPool } from '../../src/virtual-iphone/usb/transfer-buffer-pool.ts';
import { connectWorkerUsbDevice, serveUsbDeviceOverPort, type MessagePortLike } from '../../src/virtual-iphone/usb/worker-bridge.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { sleep, startHarness } from './harness.ts';
import { SINK_PORT, SOURCE_PORT, lengthHeader, registerTestServices } from './test-services.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

interface Held {
  chunk: Uint8Array;
  sha256: string;
}

/**
 * A slow consumer mixing both kinds of reads: mostly readInto (small, odd-sized target, so payloads are
 * split across calls), every 7th call a read() whose chunk it keeps to the end with its hash. Every
 * 5th call it yields to timers, so the device fills the window and transfers queue up.
 */
async function consumeMixed(stream: MuxConnection, total: number): Promise<{ sha256: string; held: Held[]; owned: number }> {
  const hash = createHash('sha256');
  const target = new Uint8Array(40_000);
  const held: Held[] = [];
  let received = 0;
  let owned = 0;
  for (let call = 1; ; call++) {
    if (call % 7 === 0) {
      const chunk = await stream.read();
      if (chunk === null) break;
      hash.update(chunk);
      received += chunk.byteLength;
      owned++;
      if (held.length < 200) held.push({ chunk, sha256: sha(chunk) });
    } else {
      const n = await stream.readInto(target);
      if (n === null) break;
      hash.update(target.subarray(0, n));
      received += n;
    }
    if (call % 5 === 0) await sleep(0);
  }
  assert.equal(received, total);
  return { sha256: hash.digest('hex'), held, owned };
}

function assertHeldIntact(held: Held[]): void {
  assert.ok(held.length > 50, `kept ${held.length} chunks`);
  for (const { chunk, sha256 } of held) {
    assert.ok(chunk.byteLength > 0, 'a chunk the consumer owns was detached');
    assert.equal(sha(chunk), sha256, 'a chunk the consumer owns was overwritten');
  }
}

/** The page side of a virtual iPhone served over a MessageChannel, as the demo mode runs it in a worker. */
async function bridged(register?: (iphone: VirtualIPhone) => void) {
  const channel = new MessageChannel();
  const iphone = new VirtualIPhone();
  const services = registerTestServices(iphone.ports);
  register?.(iphone);
  const served = serveUsbDeviceOverPort(channel.port2 as unknown as MessagePortLike, iphone);
  const device = await connectWorkerUsbDevice(channel.port1 as unknown as MessagePortLike);
  const connector = await MuxDeviceConnector.fromUsbDevice(device, { usb: new FakeUsb([device]), log: () => {} });
  return {
    services,
    served,
    device,
    connector,
    async close() {
      await connector.close();
      device.dispose();
      served.close();
    },
  };
}

test('transfer reuse in-process: 100 MB, slow mixed consumer, checksum intact, owned chunks never reused', async () => {
  const h = await startHarness();
  try {
    const stream = (await h.connector.connect(SOURCE_PORT)) as MuxConnection;
    const total = 100 * 1024 * 1024;
    await stream.write(lengthHeader(total));
    const { sha256, held, owned } = await consumeMixed(stream, total);
    assert.equal(sha256, h.services.sent[0]!.sha256);
    assertHeldIntact(held);
    // Reuse really happened; beyond the transfers read() pinned (one each at most), the pool allocated
    // only a window's worth plus the transfers in flight.
    const pool = h.mux.pool;
    assert.ok(pool.reused > 1000, `reused ${pool.reused}`);
    assert.ok(pool.allocated - owned < 64, `allocated ${pool.allocated} with ${owned} chunks owned by the consumer`);
  } finally {
    await h.close();
  }
});

test('transfer reuse across the worker bridge: buffers travel back, checksum intact, owned chunks stay whole', async () => {
  const b = await bridged();
  try {
    const stream = (await b.connector.connect(SOURCE_PORT)) as MuxConnection;
    const total = 40 * 1024 * 1024;
    await stream.write(lengthHeader(total));
    const { sha256, held } = await consumeMixed(stream, total);
    assert.equal(sha256, b.services.sent[0]!.sha256);
    assertHeldIntact(held);
    const pool = (b.served.device.deviceFunction as DeviceMux).pool;
    assert.ok(pool.reused > 300, `reused ${pool.reused}`);
  } finally {
    await b.close();
  }
});

test('packets split across IN transfers are never recycled (16 KiB transfers, 64 KiB packets)', async () => {
  const h = await startHarness({ host: { transferSize: 16384 } });
  try {
    const stream = (await h.connector.connect(SOURCE_PORT)) as MuxConnection;
    const total = 4 * 1024 * 1024 + 77;
    await stream.write(lengthHeader(total));
    const { sha256 } = await consumeMixed(stream, total);
    assert.equal(sha256, h.services.sent[0]!.sha256);
    assert.equal(h.mux.pool.reused, 0);
  } finally {
    await h.close();
  }
});

test('readInto: in order across small targets, 0 for an empty target, null at the end', async () => {
  const h = await startHarness();
  try {
    const stream = (await h.connector.connect(SOURCE_PORT)) as MuxConnection;
    const total = 300_001;
    await stream.write(lengthHeader(total));
    const hash = createHash('sha256');
    const target = new Uint8Array(999);
    let received = 0;
    assert.equal(await stream.readInto(new Uint8Array(0)), 0);
    for (;;) {
      const n = await stream.readInto(target);
      if (n === null) break;
      assert.ok(n > 0 && n <= target.byteLength);
      hash.update(target.subarray(0, n));
      received += n;
    }
    assert.equal(received, total);
    assert.equal(hash.digest('hex'), h.services.sent[0]!.sha256);
    assert.equal(await stream.readInto(target), null);
  } finally {
    await h.close();
  }
});

test('the fake device takes a buffer back only once, and only one it handed out whole', async () => {
  const h = await startHarness();
  try {
    const stream = (await h.connector.connect(SOURCE_PORT)) as MuxConnection;
    await stream.write(lengthHeader(200_000));
    let received = 0;
    const chunks: Uint8Array[] = [];
    for (let c = await stream.read(); c; c = await stream.read()) {
      chunks.push(c);
      received += c.byteLength;
    }
    assert.equal(received, 200_000);
    const idleBefore = h.mux.pool.idle;
    const big = chunks.find((c) => c.buffer.byteLength === 65536)!;
    h.device.recycleTransferBuffer(big.buffer as ArrayBuffer);
    h.device.recycleTransferBuffer(big.buffer as ArrayBuffer); // a second hand-back must not alias
    h.device.recycleTransferBuffer(new ArrayBuffer(65536)); // never handed out
    assert.equal(h.mux.pool.idle, idleBefore + 1);
  } finally {
    await h.close();
  }
});

test('TransferLease releases after the last hold unless pinned; the pool keeps only its size, up to maxIdle', () => {
  const released: Uint8Array[] = [];
  const chunk = new Uint8Array(8);
  const lease = new TransferLease(chunk, (c) => released.push(c));
  lease.hold();
  lease.drop();
  assert.equal(released.length, 0);
  lease.drop();
  assert.equal(released.length, 1);
  assert.equal(released[0], chunk);

  const pinned = new TransferLease(chunk, (c) => released.push(c));
  pinned.hold();
  pinned.pin();
  pinned.drop();
  pinned.drop();
  assert.equal(released.length, 1);

  const pool = new TransferBufferPool(1024, 2);
  const a = pool.take();
  assert.equal(a.byteLength, 1024);
  assert.equal(pool.allocated, 1);
  pool.give(new ArrayBuffer(512));
  pool.give(a.buffer as ArrayBuffer);
  pool.give(new ArrayBuffer(1024));
  pool.give(new ArrayBuffer(1024));
  assert.equal(pool.idle, 2);
  const buffers = [pool.take().buffer, pool.take().buffer];
  assert.equal(pool.reused, 2);
  assert.ok(buffers.includes(a.buffer));
  pool.take();
  assert.equal(pool.allocated, 2);
});

/** Sends `total` bytes in writes of varied sizes, refilling them each time; returns their SHA-256. */
async function sendVaried(stream: MuxConnection, total: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = new Uint8Array(300_000);
  for (let sent = 0, i = 0; sent < total; i++) {
    const chunk = buffer.subarray(0, Math.min(total - sent, [300_000, 77, 49_000, 4_096, 131_072][i % 5]!));
    globalThis.crypto.getRandomValues(chunk.subarray(0, Math.min(chunk.byteLength, 65536)));
    chunk.fill(i & 0xff, Math.min(chunk.byteLength, 65536));
    hash.update(chunk);
    await stream.write(chunk);
    sent += chunk.byteLength;
  }
  return hash.digest('hex');
}

test('OUT transfers across the worker bridge: a service that copies gives their buffers back, and the bytes stay intact', async () => {
  const b = await bridged();
  try {
    const stream = (await b.connector.connect(SINK_PORT)) as MuxConnection;
    const total = 24 * 1024 * 1024;
    await stream.write(lengthHeader(total));
    const sent = await sendVaried(stream, total);
    const digest = await new BufferedReader(stream).readExactly(32);
    assert.equal(Buffer.from(digest).toString('hex'), sent);
    // 24 MB is about 500 lent transfers: most of them in buffers given back.
    assert.ok(b.device.lentOut.reused > 300, `reused ${b.device.lentOut.reused}`);
    assert.ok(b.device.lentOut.allocated < 64, `allocated ${b.device.lentOut.allocated}`);
  } finally {
    await b.close();
  }
});

test('OUT transfers across the worker bridge: chunks a service keeps (read) never go back, and stay intact', async () => {
  const KEEPER_PORT = 4711;
  const kept: Uint8Array[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const b = await bridged((iphone) =>
    iphone.ports.listen(KEEPER_PORT, (stream) => {
      void (async () => {
        let n = 0;
        for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
          kept.push(chunk);
          n += chunk.byteLength;
          if (n >= 8 * 1024 * 1024) break;
        }
        done();
      })();
    }),
  );
  try {
    const stream = (await b.connector.connect(KEEPER_PORT)) as MuxConnection;
    const sent = await sendVaried(stream, 8 * 1024 * 1024);
    await finished;
    // Later transfers were built while earlier chunks were kept: had a kept buffer come back, they would differ now.
    assert.equal(createHash('sha256').update(Buffer.concat(kept)).digest('hex'), sent);
    assert.equal(b.device.lentOut.reused, 0);
  } finally {
    await b.close();
  }
});
