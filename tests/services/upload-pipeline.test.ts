import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferedReader } from '../../src/core/buffered-reader.ts';
import { concatBytes } from '../../src/core/bytes.ts';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { block, content, copyingStream, file, u32 } from './upload-frames.ts';
import { FILE_CODE, receiveUploadBatch, type UploadSink, type UploadSinkNow, type UploadTarget } from '../../src/services/devicelink-files.ts';

const enc = new TextEncoder();

/**
 * A target whose every step takes a random few milliseconds, recording what it was asked, in order.
 * With `chunksReusable` its sinks say they are done with a chunk once written (they copy it, late).
 */
class SlowTarget implements UploadTarget {
  readonly files = new Map<string, Uint8Array>();
  readonly order: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  writes = 0;
  /** The distinct memory the written chunks lay in. */
  readonly chunkMemory = new Set<ArrayBufferLike>();
  constructor(
    private readonly failClose = new Set<string>(),
    private readonly chunksReusable = false,
  ) {}

  private async delay(): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.random() * 3));
  }

  async createFile(path: string): Promise<UploadSink> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await this.delay();
    const chunks: Uint8Array[] = [];
    return {
      chunksReusable: this.chunksReusable,
      write: async (chunk) => {
        this.writes++;
        this.chunkMemory.add(chunk.buffer);
        await this.delay();
        chunks.push(chunk.slice());
      },
      close: async () => {
        await this.delay();
        this.inFlight--;
        if (this.failClose.has(path)) throw Object.assign(new Error(`disk full at ${path}`), { errno: 'ENOSPC' });
        const out = concatBytes(chunks);
        this.files.set(path, out);
        this.order.push(path);
      },
      abort: async () => {
        this.inFlight--;
      },
    };
  }
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

/** U/f0…: every tenth file big, the rest under 5 KB, in 64 KiB or 1000-byte blocks; each recorded in `expected`. */
async function sendMixedFiles(device: ByteStream, count: number, bigBytes: number, expected: Map<string, Uint8Array>): Promise<void> {
  for (let i = 0; i < count; i++) {
    const data = content(i, i % 10 === 0 ? bigBytes + i : (i * 997) % 5000);
    expected.set(`U/f${i}`, data);
    for (const part of file(`U/f${i}`, data, i % 2 === 0 ? 65_536 : 1000)) await device.write(part);
  }
}

test('pooled uploads: a copying reader and sinks that reuse chunks share piece buffers, never before a write is done', async () => {
  const [host, device] = createStreamPair(1 << 16);
  const target = new SlowTarget(new Set(), true);
  const expected = new Map<string, Uint8Array>();
  const writer = (async () => {
    await sendMixedFiles(device, 300, 200_000, expected);
    await device.write(u32(0));
  })();
  const reader = new BufferedReader(copyingStream(host));
  assert.equal(reader.copies, true);
  const result = await receiveUploadBatch(reader, target);
  await writer;
  assert.equal(result.files, 300);
  assert.equal(result.hostError, undefined);
  for (const [path, data] of expected) assert.deepEqual(target.files.get(path), data, path);
  assert.ok(target.chunkMemory.size < target.writes / 4, `${target.chunkMemory.size} buffers for ${target.writes} writes`);
});

test('pooled uploads: sinks that may keep chunks never get their pieces reused, beside sinks that reuse them', async () => {
  const [host, device] = createStreamPair(1 << 16);
  const kept: { chunk: Uint8Array; copy: Uint8Array }[] = [];
  let created = 0;
  // Every other sink keeps what it is given (as the packed store does with small files).
  const target: UploadTarget = {
    createFile: async () =>
      created++ % 2 === 0
        ? { chunksReusable: true, write: async () => undefined, close: async () => undefined, abort: async () => undefined }
        : {
            write: async (chunk) => void kept.push({ chunk, copy: chunk.slice() }),
            close: async () => undefined,
            abort: async () => undefined,
          },
  };
  const writer = (async () => {
    for (let i = 0; i < 50; i++) for (const part of file(`U/f${i}`, content(i, 20_000), 4096)) await device.write(part);
    await device.write(u32(0));
  })();
  const result = await receiveUploadBatch(new BufferedReader(copyingStream(host)), target);
  await writer;
  assert.equal(result.files, 50);
  assert.ok(kept.length > 100);
  for (const k of kept) assert.deepEqual(k.chunk, k.copy, 'a chunk a sink kept was overwritten');
});

/**
 * A target with synchronous sinks (as the Node store offers): `asyncOnce` paths get null from
 * createFileNow the first time and go through the slow createFile; `failWrite` paths fail their first
 * write. Whatever is stored last under a path is in `files`, either way.
 */
class NowTarget extends SlowTarget {
  readonly now = new Map<string, Uint8Array>();
  readonly aborted: string[] = [];
  nowFiles = 0;
  constructor(
    private readonly asyncOnce: Set<string>,
    private readonly failWrite: Set<string>,
  ) {
    super();
  }

  createFileNow(path: string): UploadSinkNow | null {
    if (this.asyncOnce.delete(path)) return null;
    if (path.endsWith('/refused')) throw Object.assign(new Error(`no room for ${path}`), { errno: 'ENOSPC' });
    this.nowFiles++;
    const chunks: Uint8Array[] = [];
    return {
      writeNow: (chunk) => {
        if (this.failWrite.has(path)) throw Object.assign(new Error(`disk full at ${path}`), { errno: 'ENOSPC' });
        chunks.push(chunk.slice()); // a copy now: the reader's memory is reused after the call
      },
      closeNow: () => {
        const out = concatBytes(chunks);
        this.now.set(path, out);
        this.files.set(path, out);
        this.order.push(path);
      },
      abortNow: () => void this.aborted.push(path),
    };
  }
}

test('synchronous sinks: files are stored as they are parsed, from the reader memory; fallbacks, failures and device errors are handled per file', async () => {
  const [host, device] = createStreamPair(1 << 16);
  const target = new NowTarget(new Set(['U/slow']), new Set(['U/full']));
  const expected = new Map<string, Uint8Array>();
  const writer = (async () => {
    await sendMixedFiles(device, 100, 150_000, expected);
    // The slow path first, then the same path again: the second must not land before the first.
    for (const part of file('U/slow', enc.encode('first'))) await device.write(part);
    for (const part of file('U/slow', enc.encode('second'))) await device.write(part);
    for (const part of file('U/full', content(1, 3000))) await device.write(part);
    for (const part of file('U/refused', content(2, 10))) await device.write(part);
    // A file the device gives up on halfway.
    const name = enc.encode('U/gave-up');
    for (const part of [u32(name.byteLength), name, u32(name.byteLength), name, block(FILE_CODE.FILE_DATA, content(3, 500)), block(FILE_CODE.ERROR_REMOTE, enc.encode('vanished'))]) await device.write(part);
    for (const part of file('U/last', enc.encode('after the failures'))) await device.write(part);
    await device.write(u32(0));
  })();
  const warnings: string[] = [];
  const reader = new BufferedReader(copyingStream(host));
  const result = await receiveUploadBatch(reader, target, { onWarning: (w) => warnings.push(w) });
  await writer;
  for (const [path, data] of expected) assert.deepEqual(target.now.get(path), data, path);
  assert.equal(new TextDecoder().decode(target.now.get('U/last')), 'after the failures');
  assert.equal(new TextDecoder().decode(target.files.get('U/slow')), 'second', 'the second upload of a path lands last');
  assert.equal(result.files, 103);
  assert.match(String((result.hostError as Error).message), /disk full at U\/full/);
  assert.ok(warnings.some((w) => /Could not save U\/full/.test(w)));
  assert.ok(warnings.some((w) => /Could not save U\/refused: no room/.test(w)));
  assert.ok(warnings.some((w) => /could not send U\/gave-up: vanished/.test(w)));
  assert.deepEqual(target.aborted.sort(), ['U/full', 'U/gave-up']);
  assert.ok(!target.now.has('U/full') && !target.now.has('U/gave-up'));
});

test('synchronous sinks: a large file arriving in small pieces is written in few large writes, whole; a write failing halfway drops it', async () => {
  const [host, device] = createStreamPair(1 << 16);
  const writes = new Map<string, number[]>();
  const stored = new Map<string, Uint8Array>();
  const aborted: string[] = [];
  const target: UploadTarget = {
    createFile: () => Promise.reject(new Error('not used')),
    createFileNow: (path) => {
      const chunks: Uint8Array[] = [];
      writes.set(path, []);
      return {
        writeNow: (chunk) => {
          writes.get(path)!.push(chunk.byteLength);
          if (path === 'U/breaks' && writes.get(path)!.length === 3) throw Object.assign(new Error('disk full at U/breaks'), { errno: 'ENOSPC' });
          chunks.push(chunk.slice());
        },
        closeNow: () => void stored.set(path, concatBytes(chunks)),
        abortNow: () => void aborted.push(path),
      };
    },
  };
  const big = content(7, 1_300_000);
  const small = content(8, 700);
  const writer = (async () => {
    // 64 KiB blocks, as the phone sends a Manifest.db; the stream pair hands them over in pieces of at most 64 KiB.
    for (const part of file('U/big', big, 65_536)) await device.write(part);
    for (const part of file('U/small', small)) await device.write(part);
    for (const part of file('U/breaks', content(9, 2_000_000), 65_536)) await device.write(part);
    for (const part of file('U/after', small)) await device.write(part);
    await device.write(u32(0));
  })();
  const warnings: string[] = [];
  const result = await receiveUploadBatch(new BufferedReader(copyingStream(host)), target, { onWarning: (w) => warnings.push(w) });
  await writer;
  assert.deepEqual(stored.get('U/big'), big);
  assert.deepEqual(stored.get('U/small'), small);
  assert.deepEqual(stored.get('U/after'), small);
  // The first piece goes as it came; the rest in writes of at most 256 KiB, all full but the last.
  const bigWrites = writes.get('U/big')!;
  assert.ok(bigWrites.length <= 1 + Math.ceil(big.byteLength / (256 * 1024)), `U/big in ${bigWrites.length} writes: ${bigWrites.join(', ')}`);
  assert.ok(bigWrites.slice(1, -1).every((n) => n === 256 * 1024), bigWrites.join(', '));
  assert.deepEqual(writes.get('U/small'), [700]);
  assert.equal(result.files, 3);
  assert.deepEqual(aborted, ['U/breaks']);
  assert.ok(!stored.has('U/breaks'));
  assert.ok(warnings.some((w) => /Could not save U\/breaks: .*disk full/.test(w)), warnings.join('\n'));
});
