// A big Manifest.db in a picked folder is read in place through its File with FileReaderSync (a
// dedicated worker has it; Node does not, so a stand-in that counts its reads is installed here):
// the bytes must be exact at any offset and size, small reads must share a block, a changed file must
// fail the read, and the Library must open such a backup with no scratch copy at all.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { blobFileRead } from '../../src/core/blob-file-read.ts';
import { readFully } from '../../src/core/file-read.ts';
import { OpfsScratch } from '../../src/library/source/scratch-copy.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { ZipSource, type BlobLike } from '../../src/library/source/zip-source.ts';
import { CorruptBackupError } from '../../src/core/errors.ts';
import { MemoryDirectoryHandle } from '../stores/memory-directory-handle.ts';
import { generateBackup } from './backup-generator.ts';
import { asPickedFolder } from '../helpers/picked-folder-source.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

/** A Blob-shaped view of bytes: what FileReaderSync is handed. */
class BytesBlob {
  constructor(readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.byteLength;
  }
  slice(start = 0, end = this.bytes.byteLength): BytesBlob {
    return new BytesBlob(this.bytes.subarray(Math.max(0, start), Math.max(0, end)));
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.bytes.slice().buffer;
  }
}

/** Installs a FileReaderSync over BytesBlobs for the length of `run`; `failing` makes every read throw as Chromium's does for a changed file. */
async function withFileReaderSync<T>(run: (reads: { count: number; failing: boolean }) => Promise<T> | T): Promise<T> {
  const reads = { count: 0, failing: false };
  const g = globalThis as { FileReaderSync?: unknown };
  g.FileReaderSync = class {
    readAsArrayBuffer(blob: BytesBlob): ArrayBuffer {
      reads.count++;
      if (reads.failing) throw new DOMException('The requested file could not be read.', 'NotReadableError');
      return blob.bytes.slice().buffer;
    }
  };
  try {
    return await run(reads);
  } finally {
    delete g.FileReaderSync;
  }
}

const asBlob = (bytes: Uint8Array): Blob => new BytesBlob(bytes) as unknown as Blob;

test('without FileReaderSync (Node, a page) there is no synchronous read of a Blob', () => {
  assert.equal(blobFileRead(asBlob(new Uint8Array(10))), null);
});

test('reads are exact at any offset and size, small ones share 64 KiB blocks, a changed file fails', async () => {
  const bytes = new Uint8Array(300_000 + 123);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  await withFileReaderSync((reads) => {
    const file = blobFileRead(asBlob(bytes))!;
    assert.equal(file.size, bytes.length);
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let k = 0; k < 2_000; k++) {
      const at = random(bytes.length + 100);
      const length = [1, 4096, 65_535, 65_536, 200_000][random(5)]!;
      const into = new Uint8Array(length);
      const got = readFully(file, into, at);
      const want = bytes.subarray(Math.min(at, bytes.length), Math.min(bytes.length, at + length));
      assert.equal(got, want.length, `length at ${at}+${length}`);
      assert.deepEqual(into.subarray(0, got), want, `bytes at ${at}+${length}`);
    }
    file.close();
    const fresh = blobFileRead(asBlob(bytes))!;
    reads.count = 0;
    const page = new Uint8Array(4096);
    for (let at = 65_536; at < 131_072; at += 4096) fresh.read(page, at);
    assert.equal(reads.count, 1, 'sixteen pages of one block: one read');
    assert.equal(fresh.read(page, -1), 0);
    assert.equal(fresh.read(page, bytes.length), 0);
    reads.failing = true;
    assert.throws(() => fresh.read(page, 200_000), (e: unknown) => (e as Error).name === 'NotReadableError');
    fresh.close();
  });
});

for (const password of [undefined, 'pw']) {
  test(`${password ? 'encrypted' : 'plain'} backup from a picked folder: a big Manifest.db is read in place through its File, never copied`, async () => {
    const b = await generateBackup({ password });
    cleanup.push(b.dir);
    const expected = await BackupReader.open(new NodeFsSource(b.dir));
    if (password) await expected.unlock(password);
    const manifestBytes = new Uint8Array(await readFile(join(b.dir, 'Manifest.db')));
    const picked = asPickedFolder(new NodeFsSource(b.dir));
    const source = { ...picked, fileBlob: async (p: string) => (p === 'Manifest.db' ? asBlob(manifestBytes) : picked.fileBlob!(p)) };
    const root = new MemoryDirectoryHandle();
    await withFileReaderSync(async (reads) => {
      const reader = await BackupReader.open(source, { scratch: new OpfsScratch(async () => root, async () => ({ quota: 1e12, usage: 0 }), 0), blobInPlaceMinBytes: 0 });
      try {
        if (password) await reader.unlock(password);
        assert.ok(reads.count > 0, 'SQLite read the File');
        assert.equal(root.children.size, 0, 'no scratch copy was made');
        assert.deepEqual(reader.manifest.domains(), expected.manifest.domains());
        assert.deepEqual(reader.summary().fileCount, expected.summary().fileCount);
        const some = expected.manifest.search('', 50);
        for (const entry of some) assert.deepEqual(reader.metadata(entry.fileID), expected.metadata(entry.fileID));
      } finally {
        reader.close();
        expected.close();
      }
    });
  });
}

test('a Manifest.db that changes on disk while read in place gives a message that says so, not "disk I/O error"', async () => {
  // Enough rows that the Files table lies beyond the blocks read to open the database.
  const extra = Array.from({ length: 3_000 }, (_, i) => ({ domain: 'AppDomain-com.example.many', relativePath: `Documents/folder-${i % 30}/file-${i}.dat`, kind: 'directory' as const }));
  const b = await generateBackup({ extra });
  cleanup.push(b.dir);
  const manifestBytes = new Uint8Array(await readFile(join(b.dir, 'Manifest.db')));
  assert.ok(manifestBytes.length > 256 * 1024, 'the Files table lies beyond the first blocks read to open it');
  const picked = asPickedFolder(new NodeFsSource(b.dir));
  const source = { ...picked, fileBlob: async (p: string) => (p === 'Manifest.db' ? asBlob(manifestBytes) : picked.fileBlob!(p)) };
  await withFileReaderSync(async (reads) => {
    const reader = await BackupReader.open(source, { blobInPlaceMinBytes: 0 });
    try {
      reads.failing = true;
      assert.throws(
        () => reader.manifest.domains(),
        (e: unknown) => e instanceof CorruptBackupError && /Manifest\.db could not be read any more \(it changed on disk\).*Open the backup again/.test(e.message),
      );
    } finally {
      reader.close();
    }
  });
});

/** `dir` zipped by Python's zipfile, every entry stored (as Lifeboat's own zips are) or deflated. */
async function zipOf(dir: string, stored: boolean): Promise<Uint8Array> {
  const path = join(dir, '..', `${basename(dir)}-${stored ? 'stored' : 'deflated'}.zip`);
  const script = 'import zipfile,os,sys\nz=zipfile.ZipFile(sys.argv[1],"w",zipfile.ZIP_STORED if sys.argv[3]=="1" else zipfile.ZIP_DEFLATED)\nfor r,_,fs in os.walk(sys.argv[2]):\n  for f in fs: z.write(os.path.join(r,f), os.path.relpath(os.path.join(r,f), sys.argv[2]))\nz.close()';
  const made = spawnSync('python3', ['-c', script, path, dir, stored ? '1' : '0']);
  assert.equal(made.status, 0, String(made.stderr));
  const bytes = new Uint8Array(await readFile(path));
  await rm(path);
  return bytes;
}

for (const password of [undefined, 'pw']) {
  test(`${password ? 'encrypted' : 'plain'} backup in a zip: a stored Manifest.db is read in place through the zip's File, a deflated one is copied to scratch`, async () => {
    const b = await generateBackup({ password });
    cleanup.push(b.dir);
    const expected = await BackupReader.open(new NodeFsSource(b.dir));
    if (password) await expected.unlock(password);
    try {
      for (const stored of [true, false]) {
        const zip = await ZipSource.open(asBlob(await zipOf(b.dir, stored)) as unknown as BlobLike, 'backup.zip');
        assert.equal((await zip.fileBlob('Manifest.db')) !== null, stored, 'only a stored entry is a slice of the zip');
        const root = new MemoryDirectoryHandle();
        await withFileReaderSync(async (reads) => {
          const reader = await BackupReader.open(zip, { scratch: new OpfsScratch(async () => root, async () => ({ quota: 1e12, usage: 0 }), 0), blobInPlaceMinBytes: 0 });
          try {
            if (password) await reader.unlock(password);
            if (stored) {
              assert.ok(reads.count > 0, 'SQLite read the zip');
              assert.equal(root.children.size, 0, 'no scratch copy was made');
            } else {
              assert.equal(reads.count, 0);
              assert.ok(root.children.size > 0, 'a deflated Manifest.db is copied to scratch');
            }
            assert.deepEqual(reader.manifest.domains(), expected.manifest.domains());
            assert.deepEqual(reader.summary().fileCount, expected.summary().fileCount);
            for (const entry of expected.manifest.search('', 50)) assert.deepEqual(reader.metadata(entry.fileID), expected.metadata(entry.fileID));
          } finally {
            reader.close();
          }
        });
      }
    } finally {
      expected.close();
    }
  });
}
