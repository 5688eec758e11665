import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteArena } from '../../src/stores/packed/byte-arena.ts';
import { Catalogue, DirNode, FileNode } from '../../src/stores/packed/catalogue.ts';
import { decodeFrames, encodeFrame, FrameBuffer } from '../../src/stores/packed/frame.ts';
import { PackedBackend } from '../../src/stores/packed/packed-backend.ts';
import { StoreError } from '../../src/stores/errors.ts';
import { MemoryDirectoryHandle } from './memory-directory-handle.ts';

const noRelease = (): void => undefined;
const filled = (n: number, seed: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

test('byte arena: copies are independent of their source and survive until released', () => {
  const arena = new ByteArena(1024);
  const source = filled(100, 1);
  const kept = arena.copy(source);
  source.fill(0); // the caller reuses its buffer
  assert.deepEqual(kept, filled(100, 1));
  // Fill and release many more copies: the block that holds `kept` is never handed out again.
  for (let i = 0; i < 50; i++) {
    const c = arena.copy(filled(200, i));
    assert.deepEqual(c, filled(200, i));
    arena.release(c);
  }
  assert.deepEqual(kept, filled(100, 1));
  // Big pieces get their own buffer.
  const big = arena.copy(filled(600, 3));
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, 600);
});

test('byte arena: a block whose copies are all released is reused instead of a new one', () => {
  const arena = new ByteArena(1024);
  const first = [arena.copy(filled(200, 0)), arena.copy(filled(200, 1))];
  for (const c of first) arena.release(c);
  const again = arena.copy(filled(200, 2));
  assert.equal(again.buffer, first[0]!.buffer, 'same memory');
  assert.equal(again.byteOffset, 0, 'carved from the start again');
  // Releasing memory the arena does not own changes nothing.
  arena.release(new Uint8Array(4));
  const next = arena.copy(filled(10, 4));
  assert.equal(next.byteOffset, 200, 'the live copy was not overwritten');
  assert.deepEqual(again, filled(200, 2));
});

test('frame buffer: frames decode exactly like encodeFrame, across growth and clear', () => {
  const frames = new FrameBuffer();
  const values: unknown[] = [
    ['F', 'a/b/c', 1, 0, 10, 123, 0],
    ['R', 'München/ünïcödé', '日本/ファイル'],
    ['D', 'lone \ud800 surrogate and emoji 😀'],
  ];
  for (let i = 0; i < 3000; i++) values.push(['F', `dir/${'x'.repeat(i % 50)}/${i}`, i, i * 7, i, i, 0]);
  for (const v of values) frames.append(v);
  assert.ok(frames.length > 64 * 1024, 'grew past its first buffer');
  const decoded = decodeFrames(frames.bytes());
  assert.equal(decoded.validLength, frames.length);
  assert.deepEqual(decoded.values, values);
  // Byte for byte what encodeFrame writes.
  const single = new FrameBuffer();
  single.append(values[1]);
  assert.deepEqual(single.bytes(), encodeFrame(values[1]));
  frames.clear();
  assert.equal(frames.length, 0);
  frames.append(['N', 5]);
  assert.deepEqual(decodeFrames(frames.bytes()).values, [['N', 5]]);
});

test('catalogue: remembered directories follow renames and removals', () => {
  const c = new Catalogue();
  c.mkdirp('u/staging/data/xx');
  c.mkdirp('u/current');
  const file = (n: number): FileNode => new FileNode(1, n, 1, 0, false);
  c.setFile('u/staging/data/xx/one', file(0), noRelease);
  assert.ok(c.lookup('u/staging/data/xx') instanceof DirNode);
  // The folder moves: its old path must not resolve from memory any more.
  c.rename('u/staging/data', 'u/current/data', noRelease);
  assert.equal(c.lookup('u/staging/data/xx'), null);
  assert.throws(() => c.setFile('u/staging/data/xx/two', file(1), noRelease), (e: unknown) => e instanceof StoreError && e.errno === 'ENOENT');
  c.setFile('u/current/data/xx/two', file(2), noRelease);
  assert.deepEqual(c.list('u/current/data/xx').map((e) => e.name).sort(), ['one', 'two']);
  // A directory made again at the old path is a new, empty one.
  c.mkdirp('u/staging/data/xx');
  assert.deepEqual(c.list('u/staging/data/xx'), []);
  c.remove('u/current', noRelease);
  assert.equal(c.lookup('u/current/data/xx'), null);
  assert.throws(() => c.rename('u/current/data/xx/one', 'u/staging/data/xx/one', noRelease), (e: unknown) => e instanceof StoreError && e.errno === 'ENOENT');
  c.remove('', noRelease);
  assert.equal(c.lookup('u/staging/data/xx'), null);
});

test('catalogue: file paths are checked as before', () => {
  const c = new Catalogue();
  c.mkdirp('a/b');
  const node = new FileNode(1, 0, 1, 0, false);
  for (const bad of ['a/../x', 'a/b/..', 'a/b/.', '/a', 'a//b', 'a/b\\c', 'a/b/\0']) {
    assert.throws(() => c.setFile(bad, node, noRelease), (e: unknown) => e instanceof StoreError && e.errno === 'EINVAL', bad);
  }
  assert.throws(() => c.setFile('', node, noRelease), (e: unknown) => e instanceof StoreError && e.errno === 'EISDIR');
  c.setFile('a/b/trailing/', node, noRelease);
  assert.equal(c.stat('a/b/trailing')?.kind, 'file');
  assert.throws(() => c.rename('a/b/trailing', 'a/../z', noRelease), (e: unknown) => e instanceof StoreError && e.errno === 'EINVAL');
});

test('packed: files written in interleaved chunks from one reused buffer read back exactly, after reopening', async () => {
  const dir = new MemoryDirectoryHandle();
  const b = await PackedBackend.open(dir, { freeSpace: async () => 1e12 });
  await b.mkdirp('d');
  const scratch = new Uint8Array(4096);
  const expected = new Map<string, Uint8Array>();
  // 600 files of up to 8 KiB (several arena blocks and flushes), three open at a time, one aborted now and then.
  for (let i = 0; i < 600; i += 3) {
    const sinks = await Promise.all([0, 1, 2].map((k) => b.createFile(`d/f${i + k}`)));
    const contents = [0, 1, 2].map((k) => filled(1000 + ((i * 37 + k * 1301) % 7000), i + k));
    for (let at = 0; at < 8000; at += 4096) {
      for (let k = 0; k < 3; k++) {
        const part = contents[k]!.subarray(at, at + 4096);
        if (part.byteLength === 0) continue;
        scratch.set(part);
        await sinks[k]!.write(scratch.subarray(0, part.byteLength));
        scratch.fill(0xee); // reused by the caller right away
      }
    }
    for (let k = 2; k >= 0; k--) {
      if ((i + k) % 50 === 7) {
        await sinks[k]!.abort();
        continue;
      }
      await sinks[k]!.close();
      expected.set(`d/f${i + k}`, contents[k]!);
    }
  }
  for (const [path, bytes] of expected) assert.deepEqual(await b.readAll(path), bytes, path);
  await b.flush();
  await b.close();
  const again = await PackedBackend.open(dir, { freeSpace: async () => 1e12 });
  assert.equal((await again.list('d')).length, expected.size);
  for (const [path, bytes] of expected) assert.deepEqual(await again.readAll(path), bytes, path);
  await again.close();
});
