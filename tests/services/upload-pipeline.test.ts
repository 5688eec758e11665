import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferedReader } from '../../src/core/buffered-reader.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { FILE_CODE, receiveUploadBatch, type UploadSink, type UploadTarget } from '../../src/services/devicelink-files.ts';

const enc = new TextEncoder();

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function block(code: number, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([...u32(payload.byteLength + 1), code, ...payload]);
}

function file(path: string, data: Uint8Array, blockSize = 1000): Uint8Array[] {
  const name = enc.encode(path);
  const parts = [u32(name.byteLength), name, u32(name.byteLength), name];
  for (let at = 0; at < data.byteLength; at += blockSize) parts.push(block(FILE_CODE.FILE_DATA, data.subarray(at, at + blockSize)));
  parts.push(block(FILE_CODE.SUCCESS, new Uint8Array(0)));
  return parts;
}

/** A target whose every step takes a random few milliseconds, recording what it was asked, in order. */
class SlowTarget implements UploadTarget {
  readonly files = new Map<string, Uint8Array>();
  readonly order: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly failClose = new Set<string>()) {}

  private async delay(): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.random() * 3));
  }

  async createFile(path: string): Promise<UploadSink> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await this.delay();
    const chunks: Uint8Array[] = [];
    return {
      write: async (chunk) => {
        await this.delay();
        chunks.push(chunk.slice());
      },
      close: async () => {
        await this.delay();
        this.inFlight--;
        if (this.failClose.has(path)) throw Object.assign(new Error(`disk full at ${path}`), { errno: 'ENOSPC' });
        const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
        let at = 0;
        for (const c of chunks) {
          out.set(c, at);
          at += c.byteLength;
        }
        this.files.set(path, out);
        this.order.push(path);
      },
      abort: async () => {
        this.inFlight--;
      },
    };
  }
}

function content(i: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, k) => (i * 31 + k) & 255);
}

test('pipelined uploads: files overlap in storage, arrive whole, and all are stored before the batch returns', async () => {
  const [host, device] = createStreamPair(1 << 16);
  const target = new SlowTarget();
  const expected = new Map<string, Uint8Array>();
  const writer = (async () => {
    for (let i = 0; i < 200; i++) {
      const data = content(i, (i * 997) % 5000);
      expected.set(`U/Snapshot/${i % 7}/f${i}`, data);
      for (const part of file(`U/Snapshot/${i % 7}/f${i}`, data)) await device.write(part);
    }
    await device.write(u32(0));
  })();
  const done: string[] = [];
  const result = await receiveUploadBatch(new BufferedReader(host), target, { onFileDone: (p) => done.push(p) });
  await writer;
  assert.equal(result.files, 200);
  assert.equal(result.hostError, undefined);
  assert.equal(done.length, 200);
  assert.equal(target.inFlight, 0, 'nothing is still being written when the batch returns');
  assert.ok(target.maxInFlight > 1, 'storage work overlapped');
  for (const [path, data] of expected) assert.deepEqual(target.files.get(path), data, path);
});

test('pipelined uploads: the same path twice lands in order; a failed close is reported, the batch goes on', async () => {
  const [host, device] = createStreamPair(1 << 16);
  const target = new SlowTarget(new Set(['U/bad']));
  const writer = (async () => {
    for (const part of file('U/Status.plist', enc.encode('first'))) await device.write(part);
    for (const part of file('U/bad', enc.encode('x'))) await device.write(part);
    for (const part of file('U/Status.plist', enc.encode('second'))) await device.write(part);
    await device.write(u32(0));
  })();
  const warnings: string[] = [];
  const result = await receiveUploadBatch(new BufferedReader(host), target, { onWarning: (w) => warnings.push(w) });
  await writer;
  assert.equal(result.files, 2);
  assert.match(String((result.hostError as Error).message), /disk full at U\/bad/);
  assert.ok(warnings.some((w) => /Could not save U\/bad/.test(w)));
  assert.equal(new TextDecoder().decode(target.files.get('U/Status.plist')), 'second');
  assert.deepEqual(target.order.filter((p) => p === 'U/Status.plist').length, 2);
});

test('pipelined uploads: a stream cut inside a file drops that file and throws after storage settles', async () => {
  const [host, device] = createStreamPair(1 << 16);
  const target = new SlowTarget();
  const writer = (async () => {
    for (const part of file('U/whole', content(1, 3000))) await device.write(part);
    const torn = file('U/torn', content(2, 3000));
    for (const part of torn.slice(0, 6)) await device.write(part);
    await device.close();
  })();
  await assert.rejects(receiveUploadBatch(new BufferedReader(host), target), /connection closed|closed/);
  await writer;
  assert.equal(target.inFlight, 0);
  assert.ok(target.files.has('U/whole'));
  assert.ok(!target.files.has('U/torn'), 'a torn file is never published');
});
