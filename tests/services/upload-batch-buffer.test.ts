import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferedReader } from '../../src/core/buffered-reader.ts';
import { concatBytes } from '../../src/core/bytes.ts';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { PlistReal, type PlistValue } from '../../src/plist/index.ts';
import { FILE_CODE, MAX_ERROR_TEXT_BYTES, MAX_PATH_BYTES, receiveUploadBatch, type UploadSink, type UploadTarget } from '../../src/services/devicelink-files.ts';
import { Rng } from '../../fuzz/rng.ts';
import { MobileBackup2Client, type DeviceLinkFileSystem } from '../../src/services/mobilebackup2.ts';
import { bufferUploadBatch, UploadBatchScanner } from '../../src/services/upload-batch-buffer.ts';
import { StoreError } from '../../src/stores/errors.ts';
import { block, content, copyingStream, file, u32 } from './upload-frames.ts';
import { handshake, scriptedProvider, type ScriptedDevice } from './scripted-device.ts';

const enc = new TextEncoder();

/** A batch of small files with data, error and empty files, in blocks of several sizes, and its end marker. */
function sampleBatch(): { bytes: Uint8Array; files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    const data = content(i, (i * 313) % 3000);
    files.set(`U/Snapshot/${i % 5}/f${i}`, data);
    parts.push(...file(`U/Snapshot/${i % 5}/f${i}`, data, 1 + (i % 7) * 200));
  }
  // A file the device could not read: a data block, then its error instead of success.
  parts.push(u32(7), enc.encode('U/gone1'), u32(7), enc.encode('U/gone1'), block(FILE_CODE.FILE_DATA, content(9, 10)), block(FILE_CODE.ERROR_REMOTE, enc.encode('unreadable')));
  parts.push(u32(0));
  return { bytes: concatBytes(parts), files };
}

/** A stream that hands over `bytes` in pieces of `size` (the last one shorter), then ends. */
function piecesStream(bytes: Uint8Array, size: number): ByteStream {
  let at = 0;
  return {
    read: async () => {
      if (at >= bytes.byteLength) return null;
      const piece = bytes.slice(at, at + size);
      at += size;
      return piece;
    },
    write: async () => undefined,
    close: async () => undefined,
  };
}

/** Keeps each stored file whole, in memory. */
class MemoryTarget implements UploadTarget {
  readonly files = new Map<string, Uint8Array>();
  async createFile(path: string): Promise<UploadSink> {
    const parts: Uint8Array[] = [];
    return {
      write: async (chunk) => void parts.push(chunk.slice()),
      close: async () => void this.files.set(path, concatBytes(parts)),
      abort: async () => undefined,
    };
  }
}

test('upload batch scanner: finds the end marker however the bytes are split, and nothing past it', () => {
  const { bytes } = sampleBatch();
  const next = enc.encode('next message');
  const stream = concatBytes([bytes, next]);
  for (const size of [1, 2, 3, 4, 5, 7, 64, 1000, stream.byteLength]) {
    const scanner = new UploadBatchScanner();
    let taken = 0;
    for (let at = 0; at < stream.byteLength && !scanner.ended; at += size) {
      const piece = stream.subarray(at, at + size);
      const n = scanner.scan(piece);
      taken += n;
      if (!scanner.ended) assert.equal(n, piece.byteLength, `size ${size}: a piece inside the batch is all batch`);
    }
    assert.ok(scanner.ended, `size ${size}`);
    assert.equal(scanner.broken, false);
    assert.equal(taken, bytes.byteLength, `size ${size}: stops right after the end marker`);
  }
});

test('upload batch scanner: a zero path or block length ends the batch as the receiver reads it; refused framing stops it', () => {
  const zeroPath = concatBytes([u32(3), enc.encode('U/a'), u32(0)]);
  const a = new UploadBatchScanner();
  assert.equal(a.scan(concatBytes([zeroPath, enc.encode('xx')])), zeroPath.byteLength);
  assert.ok(a.ended);
  const zeroBlock = concatBytes([...file('U/a', content(1, 10)).slice(0, 5), u32(0)]);
  const b = new UploadBatchScanner();
  assert.equal(b.scan(concatBytes([zeroBlock, enc.encode('xx')])), zeroBlock.byteLength);
  assert.ok(b.ended);
  for (const broken of [
    concatBytes([u32(5000), enc.encode('x')]), // a name longer than any path
    concatBytes([u32(3), enc.encode('U/a'), u32(3), enc.encode('U/a'), u32(2), Uint8Array.of(0x42, 0)]), // unknown block code
    concatBytes([u32(3), enc.encode('U/a'), u32(3), enc.encode('U/a'), u32(10_000), Uint8Array.of(FILE_CODE.SUCCESS)]), // a long trailer
  ]) {
    const s = new UploadBatchScanner();
    s.scan(broken);
    assert.ok(s.broken && !s.ended);
  }
});

test('buffered upload batch: read whole, it stores the same files as the stream; the next message stays unread', async () => {
  const { bytes, files } = sampleBatch();
  for (const copying of [false, true]) {
    const [host, device] = createStreamPair(1 << 16);
    const writer = (async () => {
      for (let at = 0; at < bytes.byteLength; at += 777) await device.write(bytes.slice(at, at + 777));
      await device.write(enc.encode('NEXT'));
    })();
    const reader = new BufferedReader(copying ? copyingStream(host) : host);
    const ahead = await bufferUploadBatch(reader, 1 << 20);
    assert.equal(ahead.complete, true);
    assert.equal(ahead.bytes, bytes.byteLength);
    const target = new MemoryTarget();
    const warnings: string[] = [];
    const result = await receiveUploadBatch(ahead.reader, target, { onWarning: (w) => warnings.push(w) });
    assert.equal(result.files, files.size);
    assert.deepEqual(target.files, files);
    assert.ok(warnings.some((w) => /U\/gone1: unreadable/.test(w)));
    assert.equal(new TextDecoder().decode(await reader.readExactly(4)), 'NEXT');
    await writer;
  }
});

test('buffered upload batch: longer than the cap, broken or cut off, it reads as the plain stream would', async () => {
  const { bytes, files } = sampleBatch();
  // Over the cap: the part read ahead, then the connection.
  const over = await bufferUploadBatch(new BufferedReader(piecesStream(bytes, 500)), 2000);
  assert.equal(over.complete, false);
  const target = new MemoryTarget();
  assert.equal((await receiveUploadBatch(over.reader, target)).files, files.size);
  assert.deepEqual(target.files, files);

  const refused = concatBytes([...file('U/ok', content(1, 100)), u32(3), enc.encode('U/a'), u32(3), enc.encode('U/a'), u32(2), Uint8Array.of(0x42, 0), u32(0)]);
  const cut = bytes.subarray(0, 1234);
  for (const [stream, error] of [
    [refused, /unknown file block code 0x42/],
    [cut, /connection closed/],
  ] as const) {
    const direct = receiveUploadBatch(new BufferedReader(piecesStream(stream, 300)), new MemoryTarget());
    await assert.rejects(direct, error);
    const ahead = await bufferUploadBatch(new BufferedReader(piecesStream(stream, 300)), 1 << 20);
    assert.equal(ahead.complete, false);
    await assert.rejects(receiveUploadBatch(ahead.reader, new MemoryTarget()), error);
  }
});

/** A DL file system whose file writes wait for `open()` and fail with `failWith` when set. */
class GatedFs implements DeviceLinkFileSystem {
  readonly stored = new Map<string, Uint8Array>();
  failWith: Error | null = null;
  private gate: Promise<void>;
  open!: () => void;
  constructor() {
    this.gate = new Promise((r) => (this.open = r));
  }
  async createFile(path: string): Promise<UploadSink> {
    await this.gate;
    if (this.failWith) throw this.failWith;
    const parts: Uint8Array[] = [];
    return {
      write: async (chunk) => void parts.push(chunk.slice()),
      close: async () => void this.stored.set(path, concatBytes(parts)),
      abort: async () => undefined,
    };
  }
  async *read(): AsyncIterable<Uint8Array> {}
  async list(): Promise<never[]> {
    return [];
  }
  async mkdirp(): Promise<void> {}
  async move(): Promise<void> {}
  async remove(): Promise<void> {}
  async copy(): Promise<void> {}
  async freeSpace(): Promise<number> {
    return 1e12;
  }
  async sync(): Promise<void> {}
}

async function sendBatch(device: ScriptedDevice, files: [string, Uint8Array][]): Promise<void> {
  const bytes = files.reduce((sum, [, data]) => sum + data.byteLength, 0);
  await device.send(['DLMessageUploadFiles', {}, new PlistReal(10), bytes]);
  for (const [path, data] of files) for (const part of file(path, data, 32_768)) await device.write(part);
  await device.write(u32(0));
}


test('DL loop: a batch of small files is answered before it is stored; a large one after', async () => {
  const { provider, device } = scriptedProvider();
  const [client] = await Promise.all([MobileBackup2Client.start(provider), handshake(device)]);
  const fs = new GatedFs();
  const loop = client.runLoop(fs);
  const small: [string, Uint8Array][] = [['U/a', content(1, 100)], ['U/b', content(2, 5000)]];
  await sendBatch(device, small);
  const early = await Promise.race([device.receive(), new Promise((r) => setTimeout(() => r('none'), 2000))]);
  assert.deepEqual((early as PlistValue[]).slice(0, 2), ['DLMessageStatusResponse', 0], 'answered while storage is held');
  assert.equal(fs.stored.size, 0);
  fs.open();
  // A large batch (over 1 MiB announced) is stored first: its answer says its files are there.
  await sendBatch(device, [['U/big', content(3, 1_500_000)]]);
  const late = (await device.receive()) as PlistValue[];
  assert.equal(late[1], 0);
  assert.deepEqual([...fs.stored.keys()], ['U/a', 'U/b', 'U/big']);
  assert.deepEqual(fs.stored.get('U/b'), content(2, 5000));
  await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 0 }]);
  const result = await loop;
  assert.equal(result.errorCode, 0);
  assert.equal(result.hostFailure, undefined);
  await client.disconnect();
});

test('DL loop: a batch answered early that then fails to store fails the next answer, or the backup when none comes', async () => {
  for (const next of ['create directory', 'finish'] as const) {
    const { provider, device } = scriptedProvider();
    const [client] = await Promise.all([MobileBackup2Client.start(provider), handshake(device)]);
    const fs = new GatedFs();
    fs.failWith = new StoreError('ENOSPC', 'U/a');
    fs.open();
    const loop = client.runLoop(fs);
    loop.catch(() => undefined);
    await sendBatch(device, [['U/a', content(1, 100)]]);
    assert.equal(((await device.receive()) as PlistValue[])[1], 0);
    if (next === 'create directory') {
      await device.send(['DLMessageCreateDirectory', 'U/Snapshot/00', {}, new PlistReal(10)]);
      const answer = (await device.receive()) as PlistValue[];
      assert.equal(answer[1], -15, 'ENOSPC as the device knows it');
      assert.match(String(answer[2]), /U\/a/);
      await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 105, ErrorDescription: 'Insufficient free space' }]);
      const result = await loop;
      assert.equal(result.errorCode, 105);
      assert.ok(result.hostFailure instanceof StoreError);
    } else {
      await device.send(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 0 }]);
      await assert.rejects(loop, (e: unknown) => e instanceof StoreError && e.errno === 'ENOSPC');
    }
    await client.disconnect();
  }
});

/**
 * The scanner restates the framing receiveUploadBatch parses, so the two are held to one answer: on
 * batches with one framing field or byte changed (a length, a block code, a cut), the scanner ends
 * exactly where the receiver returns and nowhere when it throws; and a batch read ahead stores what the
 * plain stream stores, or fails with the same error.
 */
test('upload batch scanner and receiver agree on where a changed batch ends, or that it is refused', async () => {
  const lengths = [0, 1, 2, 5, MAX_PATH_BYTES, MAX_PATH_BYTES + 1, MAX_ERROR_TEXT_BYTES, MAX_ERROR_TEXT_BYTES + 1, 0xffff_ffff];
  const codes = [FILE_CODE.FILE_DATA, FILE_CODE.SUCCESS, FILE_CODE.ERROR_LOCAL, FILE_CODE.ERROR_REMOTE, 0x00, 0x42, 0xff];
  type Outcome = { error: string } | { files: Map<string, Uint8Array>; rest: Uint8Array };
  const receive = async (reader: BufferedReader, rest: BufferedReader): Promise<Outcome> => {
    const target = new MemoryTarget();
    try {
      await receiveUploadBatch(reader, target);
    } catch (e) {
      return { error: (e as Error).message };
    }
    const left: Uint8Array[] = [];
    for (let piece = await rest.readAvailable(); piece; piece = await rest.readAvailable()) left.push(piece.slice());
    return { files: target.files, rest: concatBytes(left) };
  };
  let ended = 0;
  let refused = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const rng = new Rng(seed);
    // Framing fields (lengths, codes) kept apart from the data so that a change lands on one.
    const parts: { bytes: Uint8Array; field: 'length' | 'code' | 'data' }[] = [];
    for (let i = 0; i < 1 + rng.below(6); i++) {
      const path = enc.encode(`U/${seed}/f${i}`);
      parts.push({ bytes: u32(path.byteLength), field: 'length' }, { bytes: path, field: 'data' }, { bytes: u32(path.byteLength), field: 'length' }, { bytes: path, field: 'data' });
      const data = content(seed + i, rng.size(600));
      for (let at = 0; at < data.byteLength; at += 200) {
        const piece = data.subarray(at, at + 200);
        parts.push({ bytes: u32(piece.byteLength + 1), field: 'length' }, { bytes: Uint8Array.of(FILE_CODE.FILE_DATA), field: 'code' }, { bytes: piece, field: 'data' });
      }
      const failed = rng.chance(0.2);
      const tail = failed ? enc.encode('unreadable') : new Uint8Array(0);
      parts.push({ bytes: u32(tail.byteLength + 1), field: 'length' }, { bytes: Uint8Array.of(failed ? FILE_CODE.ERROR_REMOTE : FILE_CODE.SUCCESS), field: 'code' }, { bytes: tail, field: 'data' });
    }
    parts.push({ bytes: u32(0), field: 'length' });
    const fields = parts.filter((p) => p.field !== 'data');
    const changed = rng.pick(fields);
    if (changed.field === 'code') changed.bytes = Uint8Array.of(rng.pick(codes));
    else changed.bytes = u32(rng.chance(0.7) ? rng.pick(lengths) : rng.below(MAX_PATH_BYTES * 2));
    let batch = concatBytes(parts.map((p) => p.bytes));
    if (rng.chance(0.15)) batch = batch.subarray(0, rng.below(batch.byteLength));
    const stream = concatBytes([batch, enc.encode('NEXT')]);
    const scanner = new UploadBatchScanner();
    const scanned = scanner.scan(stream);
    const pieceSize = 1 + rng.below(700);
    const plainReader = new BufferedReader(piecesStream(stream, pieceSize), 'devicelink');
    const plain = await receive(plainReader, plainReader);
    if (scanner.ended) {
      ended++;
      assert.ok('files' in plain, `seed ${seed}: the scanner ended the batch, the receiver refused it: ${'error' in plain ? plain.error : ''}`);
      assert.deepEqual(plain.rest, stream.subarray(scanned), `seed ${seed}: both stop at byte ${scanned}`);
    } else {
      refused++;
      assert.ok('error' in plain, `seed ${seed}: the receiver took a batch the scanner ${scanner.broken ? 'refused' : 'never saw end'}`);
    }
    for (const cap of [1 << 20, 1 + rng.below(stream.byteLength)]) {
      const source = new BufferedReader(piecesStream(stream, pieceSize), 'devicelink');
      const ahead = await bufferUploadBatch(source, cap);
      assert.equal(ahead.complete, scanner.ended && scanned <= cap, `seed ${seed}, cap ${cap}`);
      const viaAhead = await receive(ahead.reader, source);
      assert.deepEqual(viaAhead, plain, `seed ${seed}, cap ${cap}: read ahead, the same outcome`);
    }
  }
  assert.ok(ended > 50 && refused > 50, `${ended} ended, ${refused} refused: both kinds covered`);
});

test('a batch stored with a pause every 16 files pauses between files, never inside one, and stores the same files', async () => {
  const { bytes, files } = sampleBatch();
  // Stored as parsed (a Node store's createFileNow), so what is stored at each pause is exact.
  const target = new MemoryTarget();
  const nowTarget: UploadTarget = {
    createFile: (path) => target.createFile(path),
    createFileNow: (path) => {
      const parts: Uint8Array[] = [];
      return { writeNow: (chunk) => void parts.push(chunk.slice()), closeNow: () => void target.files.set(path, concatBytes(parts)), abortNow: () => undefined };
    },
  };
  const seen: number[] = [];
  const pause = { every: 16, pause: async () => void seen.push(target.files.size) };
  const result = await receiveUploadBatch(new BufferedReader(piecesStream(bytes, 777), 'test'), nowTarget, {}, pause);
  assert.equal(result.files, 40);
  assert.deepEqual(seen, [16, 32], 'after the 16th and 32nd file, each stored whole by then');
  assert.deepEqual([...target.files.keys()].sort(), [...files.keys()].sort());
  for (const [path, data] of files) assert.deepEqual(target.files.get(path), data);
});
