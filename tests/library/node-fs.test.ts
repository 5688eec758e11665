import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFsTarget } from '../../src/library/node/fs-target.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { CorruptBackupError } from '../../src/core/errors.ts';

/** Descriptors this process holds on files under `dir` (other descriptors come and go with the runtime). */
const openDescriptorsIn = (dir: string): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false; // closed while we looked
    }
  }).length;

test('NodeFsTarget: a payload that fails half-way leaves no open descriptor and no partial file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-fs-target-'));
  try {
    const target = new NodeFsTarget(dir);
    for (let i = 0; i < 8; i++) {
      const failing = (async function* () {
        if (i % 2) yield new Uint8Array(4096).fill(i);
        throw new CorruptBackupError(`payload ${i} is damaged`);
      })();
      await assert.rejects(target.writeFile(`Domain/dir/f${i}.bin`, failing), new RegExp(`payload ${i} is damaged`));
      assert.equal(existsSync(join(dir, 'Domain/dir', `f${i}.bin`)), false, `f${i}.bin removed`);
    }
    assert.equal(openDescriptorsIn(dir), 0, 'every write stream was closed');
    // The target still works afterwards.
    await target.writeFile('Domain/dir/ok.bin', (async function* () {
      yield new Uint8Array([1, 2]);
      yield new Uint8Array([3]);
    })());
    assert.deepEqual([...(await readFile(join(dir, 'Domain/dir/ok.bin')))], [1, 2, 3]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('NodeFsSource.stream: chunks sized to the file, so a small payload does not allocate or pin 4 MiB', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-fs-source-'));
  try {
    const bytes = Uint8Array.from({ length: 20 }, (_, i) => i);
    await writeFile(join(dir, 'small'), bytes);
    await writeFile(join(dir, 'empty'), new Uint8Array(0));
    const source = new NodeFsSource(dir);
    const chunks = async (path: string, size?: number) => {
      const out: Uint8Array[] = [];
      for await (const c of source.stream(path, size)) out.push(c);
      return out;
    };
    const whole = await chunks('small');
    assert.equal(whole.length, 1);
    assert.deepEqual(whole[0], bytes);
    assert.equal(whole[0]!.buffer.byteLength, 20, 'the chunk owns a buffer of the file size');
    const pieces = await chunks('small', 7);
    assert.deepEqual(pieces.map((c) => c.length), [7, 7, 6]);
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(bytes));
    assert.deepEqual(await chunks('empty'), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
