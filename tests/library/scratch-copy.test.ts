// A picked folder or a zip cannot be read synchronously, so the Library copies a big Manifest.db into
// OPFS (OpfsScratch) and SQLite reads the copy in place. The copy must be exact, must never outlive
// the backup's closing (nor a crash, past the next copy), and a full quota or a file that changes
// while it is copied must not cost the person anything: the Library falls back or says what happened.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { OpfsScratch } from '../../src/library/source/scratch-copy.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { CorruptBackupError } from '../../src/core/errors.ts';
import { MemoryDirectoryHandle, type MemoryFileHandle } from '../stores/memory-directory-handle.ts';
import { generateBackup } from './backup-generator.ts';
import { asPickedFolder } from '../helpers/picked-folder-source.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

const roomy = async () => ({ quota: 1e12, usage: 0 });

async function* chunksOf(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

function scratchFiles(root: MemoryDirectoryHandle): string[] {
  const dir = root.children.get('lifeboat-scratch');
  return dir?.kind === 'directory' ? [...dir.children.keys()] : [];
}

test('a copy reads back exactly, and closing it deletes it', async () => {
  const root = new MemoryDirectoryHandle();
  const scratch = new OpfsScratch(async () => root, roomy, 0);
  const bytes = new Uint8Array(100_000).map((_, i) => (i * 37) & 0xff);
  const copy = await scratch.copy(chunksOf(bytes, 7_000), bytes.length, 'Manifest.db');
  assert.ok(copy);
  assert.equal(copy.size, bytes.length);
  const part = new Uint8Array(5_000);
  assert.equal(copy.read(part, 95_000), 5_000);
  assert.deepEqual(part, bytes.subarray(95_000));
  assert.equal(scratchFiles(root).length, 1);
  copy.close();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(scratchFiles(root), [], 'the copy is gone once closed');
});

test('small files, a quota that cannot hold the copy, or a quota reached part-way: null, and nothing is left', async () => {
  const root = new MemoryDirectoryHandle();
  const bytes = new Uint8Array(50_000).fill(3);
  assert.equal(await new OpfsScratch(async () => root, roomy).copy(chunksOf(bytes, 4096), bytes.length, 'Manifest.db'), null, 'under 64 MiB: memory');
  assert.equal(await new OpfsScratch(async () => root, async () => ({ quota: 60_000, usage: 20_000 }), 0).copy(chunksOf(bytes, 4096), bytes.length, 'Manifest.db'), null);
  const dir = (await root.getDirectoryHandle('lifeboat-scratch', { create: true })) as MemoryDirectoryHandle;
  dir.quota = { left: 30_000 }; // the estimate said yes; the disk filled meanwhile
  assert.equal(await new OpfsScratch(async () => root, roomy, 0).copy(chunksOf(bytes, 4096), bytes.length, 'Manifest.db'), null);
  assert.deepEqual(scratchFiles(root), []);
});

test('a file that ends early or runs long while it is copied is a damaged-backup error naming it, and nothing is left', async () => {
  const root = new MemoryDirectoryHandle();
  const scratch = new OpfsScratch(async () => root, roomy, 0);
  const bytes = new Uint8Array(10_000).fill(1);
  await assert.rejects(scratch.copy(chunksOf(bytes, 4096), 12_000, 'Manifest.db'), (e: unknown) => e instanceof CorruptBackupError && /Manifest\.db.*cut short/.test((e as Error).message));
  await assert.rejects(scratch.copy(chunksOf(bytes, 4096), 8_000, 'Manifest.db'), (e: unknown) => e instanceof CorruptBackupError && /Manifest\.db.*grew/.test((e as Error).message));
  assert.deepEqual(scratchFiles(root), []);
});

test('copies left by a crashed worker are swept at the next copy; one another worker still reads stays', async () => {
  const root = new MemoryDirectoryHandle();
  const dir = (await root.getDirectoryHandle('lifeboat-scratch', { create: true })) as MemoryDirectoryHandle;
  const stale = (await dir.getFileHandle('copy-stale', { create: true })) as MemoryFileHandle;
  stale.data = new Uint8Array(10);
  const busy = (await dir.getFileHandle('copy-busy', { create: true })) as MemoryFileHandle;
  const held = await busy.createSyncAccessHandle();
  const copy = await new OpfsScratch(async () => root, roomy, 0).copy(chunksOf(new Uint8Array(100), 50), 100, 'Manifest.db');
  assert.ok(copy);
  const left = scratchFiles(root);
  assert.ok(!left.includes('copy-stale'), 'the stale copy is swept');
  assert.ok(left.includes('copy-busy'), 'the copy in use stays');
  assert.equal(left.length, 2, 'beside the new copy');
  copy.close();
  held.close();
});

test('the Library sweeps leftovers when it starts, and makes no scratch folder where there was none', async () => {
  const empty = new MemoryDirectoryHandle();
  await new OpfsScratch(async () => empty, roomy).sweepLeftovers();
  assert.equal(empty.children.size, 0);
  const root = new MemoryDirectoryHandle();
  const dir = (await root.getDirectoryHandle('lifeboat-scratch', { create: true })) as MemoryDirectoryHandle;
  ((await dir.getFileHandle('copy-stale', { create: true })) as MemoryFileHandle).data = new Uint8Array(10);
  await new OpfsScratch(async () => root, roomy).sweepLeftovers();
  assert.deepEqual(scratchFiles(root), []);
});

for (const password of [undefined, 'pw']) {
  test(`${password ? 'encrypted' : 'plain'} backup from a folder without synchronous reads: Manifest.db read from a scratch copy, gone on close`, async () => {
    const b = await generateBackup({ password });
    cleanup.push(b.dir);
    const expected = await BackupReader.open(new NodeFsSource(b.dir));
    if (password) await expected.unlock(password);
    const root = new MemoryDirectoryHandle();
    let copied = 0;
    const reader = await BackupReader.open(asPickedFolder(new NodeFsSource(b.dir)), { scratch: new OpfsScratch(async () => root, roomy, 0), onManifestBytes: (done) => (copied = done) });
    try {
      if (password) await reader.unlock(password, (done) => (copied = done));
      assert.equal(scratchFiles(root).length, 1, 'the copy is what SQLite reads');
      assert.ok(copied > 0, 'the copy reports its progress');
      assert.deepEqual(reader.manifest.domains(), expected.manifest.domains());
      assert.deepEqual(reader.summary().fileCount, expected.summary().fileCount);
    } finally {
      reader.close();
      expected.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(scratchFiles(root), []);
  });
}
