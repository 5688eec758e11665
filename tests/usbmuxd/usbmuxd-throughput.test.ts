import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { UsbmuxdClient } from '../../src/usbmux/node/usbmuxd-client.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

const CHUNK = 64 * 1024;
/** More than socket buffers, the server's pipe and the stream pair can hold together; far below the payload. */
const MAX_IN_FLIGHT = 16 * 1024 * 1024;

/** Deterministic pseudo-random chunks (xorshift32), different every chunk so a reordering shows in the hash. */
function* chunks(total: number, seed: number): Generator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let sent = 0; sent < total; sent += CHUNK) {
    const words = new Uint32Array(Math.min(CHUNK, total - sent) / 4);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      words[i] = x;
    }
    yield new Uint8Array(words.buffer);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const transport of ['unix', 'tcp'] as const) {
  test(`${transport}: 100 MB device→host with a slow consumer arrives intact and memory stays bounded`, async (t) => {
    const total = 100 * 1024 * 1024;
    const vu = await startVirtualUsbmuxd({ tcp: transport === 'tcp' });
    try {
      let produced = 0;
      const producerHash = createHash('sha256');
      let producerDone: Promise<void> = Promise.resolve();
      vu.iphone.ports.listen(7001, (device: ByteStream) => {
        producerDone = (async () => {
          for (const chunk of chunks(total, 0x1234567)) {
            producerHash.update(chunk);
            await device.write(chunk);
            produced += chunk.byteLength;
          }
          await device.close();
        })();
      });
      const stream = await new UsbmuxdClient({ address: vu.address }).connect(vu.deviceId, 7001);
      const consumerHash = createHash('sha256');
      let consumed = 0;
      let maxAhead = 0;
      let nextPause = 0;
      for (;;) {
        const chunk = await stream.read();
        if (chunk === null) break;
        consumerHash.update(chunk);
        consumed += chunk.byteLength;
        if (consumed >= nextPause) {
          // The slow part: stop reading and let the producer run into back-pressure.
          nextPause += 10 * 1024 * 1024;
          await sleep(40);
          maxAhead = Math.max(maxAhead, produced - consumed);
        }
      }
      await producerDone;
      assert.equal(consumed, total);
      assert.equal(consumerHash.digest('hex'), producerHash.digest('hex'));
      assert.ok(maxAhead > 0, 'the producer ran ahead while the consumer slept');
      assert.ok(maxAhead <= MAX_IN_FLIGHT, `producer was ${maxAhead} bytes ahead of a stalled consumer`);
      t.diagnostic(`${transport}: producer at most ${(maxAhead / 1048576).toFixed(2)} MiB ahead of a stalled consumer`);
      await stream.close();
    } finally {
      await vu.close();
    }
  });
}

test('unix: 32 MB host→device with a slow device service is intact and bounded', async () => {
  const total = 32 * 1024 * 1024;
  const vu = await startVirtualUsbmuxd();
  try {
    let consumed = 0;
    let maxAhead = 0;
    let produced = 0;
    const deviceHash = createHash('sha256');
    let consumerDone: Promise<void> = Promise.resolve();
    vu.iphone.ports.listen(7002, (device: ByteStream) => {
      consumerDone = (async () => {
        let nextPause = 0;
        for (;;) {
          const chunk = await device.read();
          if (chunk === null) break;
          deviceHash.update(chunk);
          consumed += chunk.byteLength;
          if (consumed >= nextPause) {
            nextPause += 4 * 1024 * 1024;
            await sleep(40);
            maxAhead = Math.max(maxAhead, produced - consumed);
          }
        }
      })();
    });
    const stream = await new UsbmuxdClient({ address: vu.address }).connect(vu.deviceId, 7002);
    const hostHash = createHash('sha256');
    for (const chunk of chunks(total, 0xabcdef)) {
      hostHash.update(chunk);
      await stream.write(chunk);
      produced += chunk.byteLength;
    }
    await stream.close();
    await consumerDone;
    assert.equal(consumed, total);
    assert.equal(deviceHash.digest('hex'), hostHash.digest('hex'));
    assert.ok(maxAhead <= MAX_IN_FLIGHT, `host was ${maxAhead} bytes ahead of a stalled device`);
  } finally {
    await vu.close();
  }
});
