import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';

test('bytes cross a stream pair in order and EOF arrives after close', async () => {
  const [a, b] = createStreamPair(16);
  const writes = (async () => {
    for (let i = 0; i < 100; i++) await a.write(new Uint8Array([i, i, i]));
    await a.close();
  })();
  const reader = new BufferedReader(b);
  const all = await reader.readExactly(300);
  for (let i = 0; i < 100; i++) assert.deepEqual([...all.subarray(i * 3, i * 3 + 3)], [i, i, i]);
  assert.equal(await reader.readExactlyOrEnd(1), null);
  await writes;
});

test('a writer waits while the reader is slow (back-pressure)', async () => {
  const [a, b] = createStreamPair(8);
  let accepted = 0;
  const writer = (async () => {
    for (let i = 0; i < 4; i++) {
      await a.write(new Uint8Array(8));
      accepted++;
    }
  })();
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(accepted < 4, `writer should be held back, accepted ${accepted}`);
  for (let i = 0; i < 4; i++) await b.read();
  await writer;
  assert.equal(accepted, 4);
});

test('readExactly on a stream that ends early is a protocol error', async () => {
  const [a, b] = createStreamPair();
  await a.write(new Uint8Array(3));
  await a.close();
  await assert.rejects(new BufferedReader(b, 'test').readExactly(4), /closed after 3 of 4/);
});
