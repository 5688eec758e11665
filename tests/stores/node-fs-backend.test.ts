import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StoreError } from '../../src/stores/errors.ts';
import { NodeFsBackend } from '../../src/stores/node/node-fs-backend.ts';

/** Bytes that differ at every position, so a chunk from the wrong place or file shows. */
function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return out;
}

async function readWhole(chunks: AsyncIterable<Uint8Array>, chunkSize: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) {
    assert.ok(chunk.byteLength > 0, 'no empty chunks');
    assert.ok(chunk.byteLength <= chunkSize, `a chunk of ${chunk.byteLength} bytes is over the ${chunkSize} asked for`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

test('NodeFsBackend.read: every size around the small-file buffer and the chunk size, whole and in order', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-read-'));
  try {
    const sizes = [0, 1, 4095, 4096, 65535, 65536, 65537, 131072, 1048575, 1048576, 3 * 1048576 + 17];
    sizes.forEach((size, i) => writeFileSync(join(root, `f${size}`), pattern(size, i)));
    const backend = new NodeFsBackend(root);
    for (const chunkSize of [1 << 20, 4096]) {
      for (const [i, size] of sizes.entries()) {
        const bytes = await readWhole(backend.read(`f${size}`, chunkSize), chunkSize);
        assert.deepEqual(bytes, Buffer.from(pattern(size, i)), `f${size} read in ${chunkSize}-byte chunks`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('NodeFsBackend.read: reads of several files interleaved keep their own bytes; chunks stay valid after the next read', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-read-'));
  try {
    const sizes = [100, 70_000, 2_500_000, 10];
    sizes.forEach((size, i) => writeFileSync(join(root, `f${i}`), pattern(size, i + 1)));
    const backend = new NodeFsBackend(root);
    const readers = sizes.map((_, i) => backend.read(`f${i}`, 1 << 20)[Symbol.asyncIterator]());
    const kept: Uint8Array[][] = sizes.map(() => []);
    for (let open = readers.length; open > 0; ) {
      open = 0;
      for (const [i, reader] of readers.entries()) {
        const next = await reader.next();
        if (next.done) continue;
        open++;
        kept[i]!.push(next.value);
      }
    }
    sizes.forEach((size, i) => assert.deepEqual(Buffer.concat(kept[i]!), Buffer.from(pattern(size, i + 1)), `f${i}`));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('NodeFsBackend.read: a missing file, a folder, and a read abandoned halfway', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-read-'));
  try {
    mkdirSync(join(root, 'dir'));
    writeFileSync(join(root, 'big'), pattern(3 << 20, 9));
    const backend = new NodeFsBackend(root);
    const errnoOf = async (path: string): Promise<string> => {
      try {
        for await (const _ of backend.read(path, 1 << 20)) void _;
      } catch (e) {
        assert.ok(e instanceof StoreError);
        return e.errno;
      }
      return 'no error';
    };
    assert.equal(await errnoOf('missing'), 'ENOENT');
    assert.equal(await errnoOf('dir'), 'EISDIR');
    // Leaving after the first chunk (or after an error) closes the file.
    const openFiles = (): number => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let i = 0; i < 300; i++) {
      for await (const chunk of backend.read('big', 1 << 20)) {
        assert.equal(chunk.byteLength, 65536);
        break;
      }
      await errnoOf('dir');
    }
    assert.ok(openFiles() <= before + 2, `${openFiles() - before} files left open`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('NodeFsBackend.entryKind gives the kind list() gives, for every kind of entry, and null where there is none', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-kind-'));
  try {
    mkdirSync(join(root, 'd/sub'), { recursive: true });
    writeFileSync(join(root, 'd/file'), 'x');
    symlinkSync(join(root, 'd/sub'), join(root, 'd/link-to-folder'));
    symlinkSync(join(root, 'd/nowhere'), join(root, 'd/dangling'));
    const backend = new NodeFsBackend(root);
    const listed = new Map((await backend.list('d')).map((e) => [e.name, e.kind]));
    assert.equal(listed.size, 4);
    for (const [name, kind] of listed) assert.equal(await backend.entryKind(`d/${name}`), kind, name);
    assert.equal(await backend.entryKind('d/missing'), null);
    assert.equal(await backend.entryKind('d/file/under-a-file'), null);
    assert.equal(await backend.entryKind('nothing/here'), null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('NodeFsBackend.openLog: starts empty, appends, resets, refuses a link and writes nothing once closed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-log-'));
  try {
    const backend = new NodeFsBackend(root);
    const enc = new TextEncoder();
    writeFileSync(join(root, 'log'), 'left by an earlier run');
    const log = await backend.openLog('log');
    const text = (): string => readFileSync(join(root, 'log'), 'utf8');
    assert.equal(text(), '', 'opening empties it');
    log.append(enc.encode('a\n'));
    log.append(enc.encode('b\n'));
    assert.equal(text(), 'a\nb\n', 'each append is in the file when it returns');
    log.reset(enc.encode('c\n'));
    assert.equal(text(), 'c\n');
    log.append(enc.encode('d\n'));
    log.reset(new Uint8Array(0));
    assert.equal(text(), '');
    log.close();
    log.close();
    assert.throws(() => log.append(enc.encode('e\n')), (e: unknown) => e instanceof StoreError && e.errno === 'EIO');
    assert.equal(text(), '');
    writeFileSync(join(root, 'elsewhere'), 'keep');
    symlinkSync(join(root, 'elsewhere'), join(root, 'linked-log'));
    await assert.rejects(backend.openLog('linked-log'), (e: unknown) => e instanceof StoreError && e.errno === 'ELOOP');
    assert.equal(readFileSync(join(root, 'elsewhere'), 'utf8'), 'keep');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('NodeFsBackend.readRange: bytes at their position, clamped to the file, small and big ranges alike', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-range-'));
  try {
    const size = 3 * 1048576 + 17;
    const bytes = pattern(size, 5);
    writeFileSync(join(root, 'Manifest.db'), bytes);
    const backend = new NodeFsBackend(root);
    const ranges: [number, number][] = [[0, 0], [0, 100], [4096, 8192], [65535, 65537 + 65536], [1048576, 2 * 1048576], [size - 10, size + 4096], [size, size + 1], [size + 5, size + 10], [2 * 1048576 + 3, size]];
    for (const [start, end] of ranges) {
      const got = await backend.readRange(`Manifest.db`, start, end);
      assert.deepEqual(Buffer.from(got), Buffer.from(bytes.subarray(Math.min(start, size), Math.min(end, size))), `[${start}, ${end})`);
    }
    await assert.rejects(backend.readRange('missing', 0, 10), (e: unknown) => e instanceof StoreError && e.errno === 'ENOENT');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('NodeFsBackend.readRange: a window near the end of a big file reads that window, not the file up to it', async () => {
  // The versioned store used to stream from byte 0 for every range (no readRange here), so a scan of
  // Manifest.db a window at a time read the file quadratically. Counted through fs.readSync/fs.read.
  const fs = (await import('node:fs')).default;
  const { syncBuiltinESMExports } = await import('node:module');
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-range-'));
  const size = 8 * 1048576;
  writeFileSync(join(root, 'big'), pattern(size, 1));
  const backend = new NodeFsBackend(root);
  let bytesRead = 0;
  const { readSync, read } = fs;
  const count = (n: number): number => ((bytesRead += n), n);
  // The store imports node:fs as a namespace: patched on the default export, then synced into it.
  const mutable = fs as unknown as { readSync: typeof readSync; read: typeof read };
  mutable.readSync = ((...args: Parameters<typeof readSync>) => count(readSync(...args))) as typeof readSync;
  mutable.read = ((fd: number, buf: Uint8Array, off: number, len: number, pos: number | null, cb: (e: Error | null, n: number) => void) =>
    read(fd, buf, off, len, pos, (e, n) => cb(e, e ? n : count(n)))) as unknown as typeof read;
  syncBuiltinESMExports();
  try {
    const got = await backend.readRange('big', size - 1048576, size);
    assert.equal(got.byteLength, 1048576);
    assert.equal(bytesRead, 1048576, 'only the window was read');
  } finally {
    mutable.readSync = readSync;
    mutable.read = read;
    syncBuiltinESMExports();
    rmSync(root, { recursive: true, force: true });
  }
});

test('NodeFsBackend.remove: a deep tree of many files in slices, a single file, a missing path; a link is removed, not followed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-remove-'));
  const outside = mkdtempSync(join(tmpdir(), 'lifeboat-nodefs-outside-'));
  try {
    writeFileSync(join(outside, 'keep'), 'kept');
    const tree = join(root, 'version', 'files');
    for (let d = 0; d < 5; d++) {
      mkdirSync(join(tree, `d${d}`, 'deeper'), { recursive: true });
      for (let i = 0; i < 100; i++) writeFileSync(join(tree, `d${d}`, i % 2 ? `f${i}` : join('deeper', `f${i}`)), 'x');
    }
    symlinkSync(outside, join(tree, 'link-to-outside'));
    writeFileSync(join(root, 'lone'), 'y');
    const backend = new NodeFsBackend(root);
    // Another task runs between the slices: the event loop is not held for the whole tree.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    await backend.remove('version');
    clearInterval(ticker);
    assert.deepEqual(readdirSync(root), ['lone']);
    assert.ok(ticks > 0, 'timers ran while the tree was removed');
    assert.equal(readFileSync(join(outside, 'keep'), 'utf8'), 'kept', 'what the link pointed at is untouched');
    await backend.remove('lone');
    await backend.remove('never-was');
    await backend.remove('never/was/either');
    assert.deepEqual(readdirSync(root), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});
