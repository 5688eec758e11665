// SocketByteStream with releaseWrites (the CLI's usbmuxd connections): a write settles only once the
// socket no longer holds the caller's bytes, so one buffer can be refilled for every write, as
// sendDownloadFiles does with a 1.19 GB Manifest.db. Without it a small write settles while Node still
// queues the caller's memory, which the negative control shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlabReceiver, SocketByteStream } from '../../src/usbmux/node/socket-byte-stream.ts';
import { DeviceDisconnectedError } from '../../src/core/errors.ts';

const patternByte = (i: number): number => (i * 31 + (i >>> 9)) & 255;

function fill(target: Uint8Array, start: number): void {
  for (let k = 0; k < target.byteLength; k++) target[k] = patternByte(start + k);
}

/**
 * A server that reads nothing until told to (so the kernel's buffer fills and Node queues what follows),
 * then reads everything and reports how many bytes differed from the pattern.
 */
async function withStalledReader(
  body: (path: string, startReading: () => void, result: Promise<{ bytes: number; wrong: number }>) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-release-'));
  const path = join(dir, 's.sock');
  let report!: (r: { bytes: number; wrong: number }) => void;
  const result = new Promise<{ bytes: number; wrong: number }>((r) => (report = r));
  let peer: Socket | undefined;
  let reading = false;
  const server = createServer((socket) => {
    peer = socket;
    if (!reading) socket.pause();
    let at = 0;
    let wrong = 0;
    socket.on('data', (d: Buffer) => {
      for (let k = 0; k < d.byteLength; k++) if (d[k] !== patternByte(at + k)) wrong++;
      at += d.byteLength;
    });
    socket.on('end', () => {
      report({ bytes: at, wrong });
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const startReading = (): void => {
    reading = true;
    peer?.resume();
  };
  try {
    await body(path, startReading, result);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function connect(path: string, releaseWrites: boolean): Promise<SocketByteStream> {
  const receiver = new SlabReceiver();
  const socket = createConnection({ path, onread: receiver.onread });
  await new Promise((r) => socket.once('connect', r));
  return new SocketByteStream(socket, { receiver, releaseWrites });
}

/**
 * Writes `total` pattern bytes in varied sizes from one buffer refilled after each write settles. The
 * peer starts reading only once a write has not settled for 20 ms: by then the kernel's buffer is full
 * and whatever the socket took since is queued in Node, pointing at the caller's memory.
 */
async function refillOneBuffer(stream: SocketByteStream, total: number, startReading: () => void, sizes: number[]): Promise<void> {
  const buffer = new Uint8Array(Math.max(...sizes));
  let stalled = false;
  for (let sent = 0, n = 0; sent < total; n++) {
    const piece = buffer.subarray(0, Math.min(total - sent, sizes[n % sizes.length]!));
    fill(piece, sent);
    const written = stream.write(piece);
    if (!stalled) {
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([written.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 20)))]);
      clearTimeout(timer);
      if (!settled) {
        stalled = true;
        startReading();
      }
    }
    await written;
    sent += piece.byteLength;
  }
  assert.ok(stalled, 'the peer must have stalled a write');
}

test('a releasing socket stream: one buffer refilled after every write arrives intact, even while the peer stalls', async () => {
  const total = 8 << 20;
  await withStalledReader(async (path, startReading, result) => {
    const stream = await connect(path, true);
    assert.equal(stream.releasesWrites, true);
    await refillOneBuffer(stream, total, startReading, [1024, 1, 3000, 64 * 1024, 777]);
    await stream.close();
    assert.deepEqual(await result, { bytes: total, wrong: 0 });
  });
});

test('the negative control: without releaseWrites, small writes settle while the socket still holds their bytes', async () => {
  const total = 8 << 20;
  await withStalledReader(async (path, startReading, result) => {
    const stream = await connect(path, false);
    assert.equal(stream.releasesWrites, false);
    // Small writes only: once the kernel's buffer is full, the next 16 KiB of them are queued in Node
    // (each settling at once) before one waits for 'drain', and every one of them was refilled.
    await refillOneBuffer(stream, total, startReading, [1024]);
    await stream.close();
    const { bytes, wrong } = await result;
    assert.equal(bytes, total);
    assert.ok(wrong > 0, 'refilled memory must have reached the wire here');
  });
});

test('a releasing write cut off by destroy() rejects instead of settling as if its bytes were sent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-release-'));
  const path = join(dir, 's.sock');
  const peers: Socket[] = [];
  const server = createServer((socket) => {
    socket.pause(); // never reads: the write below cannot finish
    peers.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    const stream = await connect(path, true);
    const pending = stream.write(new Uint8Array(32 << 20));
    let settled = false;
    pending.then(() => (settled = true), () => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, 'the kernel cannot have taken 32 MiB from a peer that reads nothing');
    stream.destroy();
    await assert.rejects(pending, DeviceDisconnectedError);
    await assert.rejects(stream.write(new Uint8Array(1)), DeviceDisconnectedError);
  } finally {
    for (const p of peers) p.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
