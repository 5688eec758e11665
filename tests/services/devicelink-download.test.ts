// sendDownloadFiles: the DL file stream the host answers DLMessageDownloadFiles with, framed in reused
// memory when the writer allows it, and from a source that reads into the lent scratch buffer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOWNLOAD_BLOCK_BYTES, FILE_CODE, sendDownloadFiles, type DownloadSource } from '../../src/services/devicelink-files.ts';

const SIZES = [0, 1, DOWNLOAD_BLOCK_BYTES - 1, DOWNLOAD_BLOCK_BYTES, DOWNLOAD_BLOCK_BYTES + 1, 256 * 1024, 256 * 1024 + 5, (1 << 20) + 3, 3 * (1 << 20) + 77];

function contentOf(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

const FILES = new Map(SIZES.map((size, i) => [`dir/file-${i}`, contentOf(size, i + 1)]));

/** Fresh chunks, or (lending) chunks read into the caller's scratch buffer as a store's sync read does. */
function sourceOf(files: Map<string, Uint8Array>, useScratch: boolean, lent: number[] = []): DownloadSource {
  return {
    async *read(path, chunkSize, scratch) {
      const data = files.get(path);
      if (!data) throw Object.assign(new Error(`no such file: ${path}`), { code: 'ENOENT' });
      if (scratch) lent.push(scratch.byteLength);
      for (let at = 0; at < data.byteLength; at += chunkSize) {
        const piece = data.subarray(at, Math.min(data.byteLength, at + chunkSize));
        if (useScratch && scratch) {
          const into = scratch.subarray(0, piece.byteLength);
          into.set(piece);
          yield into;
        } else {
          yield piece.slice();
        }
      }
    },
  };
}

interface Parsed {
  files: Map<string, Uint8Array>;
  errors: Map<string, string>;
  maxBlock: number;
}

/** Reads the stream back the way a device does: name, blocks, trailer or error, until the 0 terminator. */
function parse(stream: Uint8Array): Parsed {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const files = new Map<string, Uint8Array>();
  const errors = new Map<string, string>();
  let maxBlock = 0;
  let at = 0;
  for (;;) {
    const nameLength = view.getUint32(at);
    at += 4;
    if (nameLength === 0) break;
    const name = new TextDecoder().decode(stream.subarray(at, at + nameLength));
    at += nameLength;
    const parts: Uint8Array[] = [];
    for (;;) {
      const length = view.getUint32(at);
      const code = stream[at + 4];
      const body = stream.subarray(at + 5, at + 4 + length);
      at += 4 + length;
      if (code === FILE_CODE.FILE_DATA) {
        maxBlock = Math.max(maxBlock, body.byteLength);
        parts.push(body);
        continue;
      }
      if (code === FILE_CODE.SUCCESS) {
        files.set(name, Buffer.concat(parts));
        break;
      }
      assert.equal(code, FILE_CODE.ERROR_LOCAL);
      errors.set(name, new TextDecoder().decode(body));
      break;
    }
  }
  assert.equal(at, stream.byteLength, 'nothing after the terminator');
  return { files, errors, maxBlock };
}

/** A writer that snapshots each write as it is made (a mux connection copies into packets). */
function copyingWriter(): { write: (b: Uint8Array) => Promise<void>; bytes: () => Uint8Array } {
  const parts: Uint8Array[] = [];
  return { write: async (b) => void parts.push(b.slice()), bytes: () => Buffer.concat(parts) };
}

/** A writer that keeps the caller's memory as it is (a Node socket's queue): reuse would corrupt it. */
function retainingWriter(): { write: (b: Uint8Array) => Promise<void>; bytes: () => Uint8Array } {
  const parts: Uint8Array[] = [];
  return { write: async (b) => void parts.push(b), bytes: () => Buffer.concat(parts) };
}

const PATHS = [...FILES.keys()];

for (const useScratch of [false, true]) {
  for (const reuse of [false, true]) {
    test(`every size arrives whole in ≤ 32 KiB blocks (source ${useScratch ? 'reads into scratch' : 'yields fresh chunks'}, frames ${reuse ? 'reused' : 'fresh'})`, async () => {
      const lent: number[] = [];
      const writer = reuse ? copyingWriter() : retainingWriter();
      let counted = 0;
      const errors = await sendDownloadFiles(writer.write, PATHS, sourceOf(FILES, useScratch, lent), {
        onBytes: (n) => (counted += n),
        writeReleasesBytes: reuse,
      });
      assert.deepEqual(errors, {});
      const parsed = parse(writer.bytes());
      assert.equal(parsed.files.size, FILES.size);
      for (const [path, data] of FILES) assert.ok(Buffer.from(parsed.files.get(path)!).equals(data), path);
      assert.equal(parsed.maxBlock, DOWNLOAD_BLOCK_BYTES);
      assert.equal(counted, SIZES.reduce((a, b) => a + b, 0));
      // One scratch buffer, at least the chunk size asked for, lent to every read.
      assert.equal(lent.length, PATHS.length);
      assert.ok(lent.every((n) => n === lent[0] && n >= DOWNLOAD_BLOCK_BYTES));
    });
  }
}

test('the frames are reused memory only when the writer releases them: a retaining writer shows it', async () => {
  // The negative control: with reuse on, a writer that keeps views sees later frames over earlier ones.
  const expected = copyingWriter();
  await sendDownloadFiles(expected.write, PATHS, sourceOf(FILES, false), { writeReleasesBytes: true });
  const retained = retainingWriter();
  await sendDownloadFiles(retained.write, PATHS, sourceOf(FILES, false), { writeReleasesBytes: true });
  assert.equal(retained.bytes().byteLength, expected.bytes().byteLength);
  assert.ok(!Buffer.from(retained.bytes()).equals(expected.bytes()), 'reused frames must have been overwritten here');
});

test('a file that cannot be read gets an error block and an entry in the multi-status, the rest still go', async () => {
  const writer = copyingWriter();
  const paths = ['dir/file-1', 'missing/Manifest.db', 'dir/file-8'];
  const errors = await sendDownloadFiles(writer.write, paths, sourceOf(FILES, true), { writeReleasesBytes: true });
  assert.deepEqual(Object.keys(errors), ['missing/Manifest.db']);
  const parsed = parse(writer.bytes());
  assert.match(parsed.errors.get('missing/Manifest.db')!, /no such file/);
  assert.ok(Buffer.from(parsed.files.get('dir/file-8')!).equals(FILES.get('dir/file-8')!));
  assert.ok(Buffer.from(parsed.files.get('dir/file-1')!).equals(FILES.get('dir/file-1')!));
});

test("a restore's shape: thousands of small files go out gathered in few writes, each intact, with and without reuse", async () => {
  const small = new Map(Array.from({ length: 3000 }, (_, i) => [`Library/f${i}`, contentOf((i * 7919) % 5000, i + 100)]));
  const paths = [...small.keys()];
  const total = [...small.values()].reduce((a, b) => a + b.byteLength + 4 + 5, 0);
  for (const reuse of [false, true]) {
    const writer = reuse ? copyingWriter() : retainingWriter();
    let writes = 0;
    const counting = async (b: Uint8Array): Promise<void> => {
      writes++;
      await writer.write(b);
    };
    assert.deepEqual(await sendDownloadFiles(counting, paths, sourceOf(small, true), { writeReleasesBytes: reuse }), {});
    const parsed = parse(writer.bytes());
    assert.equal(parsed.files.size, small.size);
    for (const [path, data] of small) assert.ok(Buffer.from(parsed.files.get(path)!).equals(data), `${path} (reuse ${reuse})`);
    // ≈7.6 MB in writes of about 256 KiB, not three per file.
    assert.ok(writes <= Math.ceil(total / (256 * 1024)) + 2, `${writes} writes (reuse ${reuse})`);
  }
  // With reuse, the gathered writes are one buffer refilled: a writer keeping views sees it overwritten.
  const expected = copyingWriter();
  await sendDownloadFiles(expected.write, paths, sourceOf(small, true), { writeReleasesBytes: true });
  const retained = retainingWriter();
  await sendDownloadFiles(retained.write, paths, sourceOf(small, true), { writeReleasesBytes: true });
  assert.ok(!Buffer.from(retained.bytes()).equals(expected.bytes()), 'the gathering buffer must have been refilled here');
});
