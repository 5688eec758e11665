import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blobChunks } from '../../src/core/blob-chunks.ts';

const data = new Uint8Array(5_000_003).map((_, i) => (i * 31 + (i >> 9)) & 0xff);

async function collect(blob: Blob, chunkSize: number): Promise<{ bytes: Uint8Array; sizes: number[] }> {
  const bytes = new Uint8Array(blob.size);
  const sizes: number[] = [];
  let at = 0;
  for await (const chunk of blobChunks(blob, chunkSize)) {
    bytes.set(chunk, at); // copied before the next is asked for, as the contract says
    at += chunk.byteLength;
    sizes.push(chunk.byteLength);
  }
  assert.equal(at, blob.size);
  return { bytes, sizes };
}

test('blobChunks reads a Blob through one reused buffer: every byte, chunks no bigger than asked', async () => {
  const { bytes, sizes } = await collect(new Blob([data]), 1 << 20);
  assert.deepEqual(bytes, data);
  assert.ok(sizes.every((n) => n > 0 && n <= 1 << 20), String(sizes));

  // The buffer moves from chunk to chunk: the previous view is detached once the next is read.
  const iterator = blobChunks(new Blob([data]), 1 << 20)[Symbol.asyncIterator]();
  const first = (await iterator.next()).value as Uint8Array;
  assert.equal(first.buffer.byteLength, 1 << 20);
  const second = (await iterator.next()).value as Uint8Array;
  assert.equal(first.byteLength, 0, 'the first chunk’s buffer went to the second read');
  assert.equal(second.buffer.byteLength, 1 << 20);
  await iterator.return?.(undefined);

  assert.deepEqual((await collect(new Blob([]), 1 << 20)).sizes, []);
  const tiny = await collect(new Blob([data.subarray(0, 10)]), 1 << 20);
  assert.deepEqual(tiny.bytes, data.subarray(0, 10));
});

test('blobChunks falls back to slices where a Blob stream is not a byte stream', async () => {
  const real = new Blob([data]);
  const plainStream = (): ReadableStream<Uint8Array> => new ReadableStream({ start: (c) => (c.enqueue(data), c.close()) });
  for (const blob of [
    { size: real.size, slice: (a?: number, b?: number) => real.slice(a, b) }, // no stream() at all
    { size: real.size, slice: (a?: number, b?: number) => real.slice(a, b), stream: plainStream }, // a default stream: BYOB refused
  ]) {
    const { bytes, sizes } = await collect(blob as unknown as Blob, 1 << 20);
    assert.deepEqual(bytes, data);
    assert.deepEqual(sizes, [1 << 20, 1 << 20, 1 << 20, 1 << 20, 5_000_003 - 4 * (1 << 20)]);
  }
});
