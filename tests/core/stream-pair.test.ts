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

test('copying reads: readInto takes bytes across chunks; lent memory is given back once copied out, never after read()', async () => {
  const [a, b] = createStreamPair(0, { copyingReads: true });
  assert.ok(b.readInto, 'a copying pair offers readInto');
  const events: string[] = [];
  const lend = (name: string, bytes: number[]) =>
    a.lendWrite(new Uint8Array(bytes), { copied: () => events.push(`${name} copied`), taken: () => events.push(`${name} taken`) });
  const first = lend('first', [1, 2, 3, 4, 5]);
  const second = lend('second', [6, 7]);
  const empty = lend('empty', []);
  const target = new Uint8Array(3);
  assert.equal(await b.readInto!(target), 3);
  assert.deepEqual([...target], [1, 2, 3]);
  assert.deepEqual(events, ['empty copied'], 'half-copied memory stays lent');
  const four = new Uint8Array(4);
  assert.equal(await b.readInto!(four), 4);
  assert.deepEqual([...four], [4, 5, 6, 7]);
  assert.deepEqual(events, ['empty copied', 'first copied', 'second copied']);
  // High water mark 0: each lent write settles once all of it was read.
  await Promise.all([first, second, empty]);
  const third = lend('third', [8, 9]);
  const chunk = await b.read();
  assert.deepEqual([...chunk!], [8, 9]);
  assert.deepEqual(events.at(-1), 'third taken');
  await third;
  assert.equal(await b.readInto!(new Uint8Array(0)), 0);
  await a.close();
  assert.equal(await b.readInto!(new Uint8Array(1)), null);
});

test('a pair without copying reads offers no readInto (its readers keep views)', () => {
  const [, b] = createStreamPair(0);
  assert.equal(b.readInto, undefined);
});
