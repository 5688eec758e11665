// SocketByteStream over a SlabReceiver: bytes copied out (readInto) give their slab back for reuse; a
// chunk handed out as it is (read) pins its slab, so what a reader keeps is never overwritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlabReceiver, SocketByteStream } from '../../src/usbmux/node/socket-byte-stream.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';

/** Byte `i` of the stream the server sends. */
const patternByte = (i: number): number => (i * 7 + (i >>> 11)) & 255;

function pattern(start: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let k = 0; k < length; k++) out[k] = patternByte(start + k);
  return out;
}

/** Runs `body` against a server on a UNIX socket that sends `total` pattern bytes in writes of varied sizes, then ends. */
async function withPatternServer(total: number, body: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-slab-'));
  const path = join(dir, 's.sock');
  const server = createServer((socket) => {
    void (async () => {
      let sent = 0;
      let n = 0;
      while (sent < total) {
        const size = Math.min(total - sent, [100, 70_000, 3, 1 << 20, 12_345][n++ % 5]!);
        if (!socket.write(pattern(sent, size))) await new Promise((r) => socket.once('drain', r));
        sent += size;
      }
      socket.end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    await body(path);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function connect(path: string): Promise<{ stream: SocketByteStream; receiver: SlabReceiver }> {
  const receiver = new SlabReceiver();
  const socket = createConnection({ path, onread: receiver.onread });
  await new Promise((r) => socket.once('connect', r));
  return { stream: new SocketByteStream(socket, { receiver }), receiver };
}

test('slab receiver: readInto delivers every byte in order and reuses slabs; chunks taken by read() stay intact', async () => {
  const total = 48 << 20;
  await withPatternServer(total, async (path) => {
    const { stream, receiver } = await connect(path);
    assert.ok(stream.readInto, 'a stream over a SlabReceiver offers readInto');
    const kept: { at: number; chunk: Uint8Array; copy: Uint8Array }[] = [];
    const target = new Uint8Array(50_000);
    let at = 0;
    let reads = 0;
    for (;;) {
      // Now and then a chunk is taken as it is and kept: its slab must never be reused under it.
      if (++reads % 499 === 0) {
        const chunk = await stream.read();
        if (chunk === null) break;
        kept.push({ at, chunk, copy: chunk.slice() });
        at += chunk.byteLength;
        continue;
      }
      const n = await stream.readInto!(target.subarray(0, 1 + (reads % target.byteLength)));
      if (n === null) break;
      assert.deepEqual(target.subarray(0, n), pattern(at, n), `bytes at ${at}`);
      at += n;
    }
    assert.equal(at, total);
    assert.ok(kept.length >= 3);
    for (const k of kept) assert.deepEqual(k.chunk, k.copy, `the chunk read at ${k.at} was overwritten`);
    // Without reuse, 48 MiB would take at least 48 slabs.
    assert.ok(receiver.slabsAllocated < 30, `${receiver.slabsAllocated} slabs allocated for 48 MiB`);
    await stream.close();
  });
});

test('slab receiver: a BufferedReader over it copies, so what it returned survives the slabs being reused', async () => {
  const total = 24 << 20;
  await withPatternServer(total, async (path) => {
    const { stream, receiver } = await connect(path);
    const reader = new BufferedReader(stream);
    assert.equal(reader.copies, true);
    const kept: { at: number; bytes: Uint8Array }[] = [];
    const piece = new Uint8Array(64 * 1024);
    let at = 0;
    for (let i = 0; at < total; i++) {
      const kind = i % 4;
      if (kind === 0) {
        const bytes = (await reader.readExactlyOrEnd(Math.min(total - at, 1 + (i % 3000))))!;
        kept.push({ at, bytes });
        at += bytes.byteLength;
      } else if (kind === 1) {
        const bytes = reader.takeBuffered(Math.min(reader.buffered, 17)) ?? (await reader.readAvailable(17))!;
        kept.push({ at, bytes });
        at += bytes.byteLength;
      } else {
        const n = (await reader.readAvailableInto(piece))!;
        assert.deepEqual(piece.subarray(0, n), pattern(at, n));
        at += n;
      }
    }
    assert.equal(at, total);
    assert.equal(await reader.readAvailable(), null);
    for (const k of kept) assert.deepEqual(k.bytes, pattern(k.at, k.bytes.byteLength), `bytes returned at ${k.at} changed`);
    assert.ok(receiver.slabsAllocated < 20, `${receiver.slabsAllocated} slabs allocated for 24 MiB`);
    await stream.close();
  });
});

test('socket stream without a slab receiver offers no readInto (readers keep views, as before)', async () => {
  await withPatternServer(1000, async (path) => {
    const socket = createConnection(path);
    await new Promise((r) => socket.once('connect', r));
    const stream = new SocketByteStream(socket);
    assert.equal(stream.readInto, undefined);
    assert.equal(new BufferedReader(stream).copies, false);
    await stream.close();
  });
});
