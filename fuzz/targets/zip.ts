import { deflateRawSync } from 'node:zlib';
import { concatBytes } from '../../src/core/bytes.ts';
import { crc32 } from '../../src/core/crc32.ts';
import { LifeboatError } from '../../src/core/errors.ts';
import { ZipSource, type BlobLike } from '../../src/library/source/zip-source.ts';
import type { Rng } from '../rng.ts';
import { type FuzzTarget, messageShape } from '../target.ts';

interface Entry {
  name: string;
  data: Uint8Array;
  deflate: boolean;
  zip64: boolean;
}

const le16 = (n: number) => new Uint8Array([n & 0xff, (n >>> 8) & 0xff]);
const le32 = (n: number) => new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);
const le64 = (n: number) => concatBytes([le32(n >>> 0), le32(Math.floor(n / 2 ** 32))]);

/** A zip built field by field (stored and deflated entries, zip64 extras, a zip64 end record), to mutate. */
function buildZip(entries: Entry[], zip64End: boolean, comment = ''): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const body = e.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const crc = crc32(e.data);
    const sizes = e.zip64 ? [0xffffffff, 0xffffffff] : [body.length, e.data.length];
    const extra = e.zip64 ? concatBytes([le16(1), le16(24), le64(e.data.length), le64(body.length), le64(offset)]) : new Uint8Array(0);
    const local = concatBytes([le32(0x04034b50), le16(45), le16(0), le16(e.deflate ? 8 : 0), le16(0), le16(0x21), le32(crc), le32(sizes[0]!), le32(sizes[1]!), le16(name.length), le16(0), name, body]);
    centrals.push(
      concatBytes([
        le32(0x02014b50), le16(0x031e), le16(45), le16(0), le16(e.deflate ? 8 : 0), le16(0), le16(0x21), le32(crc), le32(sizes[0]!), le32(sizes[1]!),
        le16(name.length), le16(extra.length), le16(0), le16(0), le16(0), le32(0), le32(e.zip64 ? 0xffffffff : offset), name, extra,
      ]),
    );
    locals.push(local);
    offset += local.length;
  }
  const cd = concatBytes(centrals);
  const commentBytes = enc.encode(comment);
  const tail: Uint8Array[] = [];
  if (zip64End) {
    const recordAt = offset + cd.length;
    tail.push(concatBytes([le32(0x06064b50), le64(44), le16(45), le16(45), le32(0), le32(0), le64(entries.length), le64(entries.length), le64(cd.length), le64(offset)]));
    tail.push(concatBytes([le32(0x07064b50), le32(0), le64(recordAt), le32(1)]));
    tail.push(concatBytes([le32(0x06054b50), le16(0), le16(0), le16(0xffff), le16(0xffff), le32(0xffffffff), le32(0xffffffff), le16(commentBytes.length), commentBytes]));
  } else {
    tail.push(concatBytes([le32(0x06054b50), le16(0), le16(0), le16(entries.length), le16(entries.length), le32(cd.length), le32(offset), le16(commentBytes.length), commentBytes]));
  }
  return concatBytes([...locals, cd, ...tail]);
}

const NAMES = ['Info.plist', 'Manifest.db', 'Backup/UDID/Info.plist', 'ab/abcdef0123', 'dir/', 'a/../b', '../escape', '__MACOSX/x', 'a\\b\\c', './x', '', 'ü/中', 'a//b', '/abs', 'a/', 'a'];

function randomZip(rng: Rng): Uint8Array {
  const entries: Entry[] = [];
  for (let i = 0, n = rng.below(6); i < n; i++) {
    const size = rng.size(4096);
    entries.push({ name: rng.pick(NAMES), data: rng.chance(0.5) ? new Uint8Array(size).fill(rng.below(256)) : rng.bytes(size), deflate: rng.chance(0.5), zip64: rng.chance(0.2) });
  }
  return buildZip(entries, rng.chance(0.2), rng.chance(0.1) ? 'comment' : '');
}

function blobOf(bytes: Uint8Array): BlobLike {
  return {
    size: bytes.length,
    slice: (start, end) => ({ arrayBuffer: async () => bytes.slice(start, end).buffer as ArrayBuffer }),
  };
}

/** Lists everything reachable and reads every file whole, in part and (stored) in place, as the library would. */
async function walk(zip: ZipSource): Promise<string> {
  const rejected = new Set<string>();
  const dirs = [''];
  let reads = 0;
  while (dirs.length > 0 && reads < 32) {
    const dir = dirs.shift()!;
    for (const entry of await zip.list(dir)) {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (entry.kind === 'directory') {
        dirs.push(path);
        continue;
      }
      reads++;
      const stat = await zip.stat(path);
      try {
        const whole = await zip.readFile(path);
        if (stat && whole.length !== stat.size) throw new Error(`readFile gave ${whole.length} bytes, stat says ${stat.size}`);
        await zip.readRange(path, 1, 100);
        // A stored entry is also read in place, through a slice of the zip (a big Manifest.db): the same bytes.
        const inPlace = await zip.fileBlob(path);
        if (inPlace && !Buffer.from(await inPlace.arrayBuffer()).equals(whole)) throw new Error('fileBlob and readFile gave different bytes');
      } catch (error) {
        // One damaged entry must not hide the rest (and must fail typed).
        if (!(error instanceof LifeboatError)) throw error;
        rejected.add(messageShape(error));
      }
    }
  }
  return `read ${reads} rejected ${[...rejected].sort().join(' | ')}`;
}

export const zip: FuzzTarget = {
  name: 'zip',
  async seeds() {
    const data = new TextEncoder().encode('<?xml version="1.0"?><plist><dict/></plist>'.repeat(20));
    return [
      buildZip([{ name: 'Backup/UDID/Info.plist', data, deflate: true, zip64: false }, { name: 'Backup/UDID/ab/abcd', data: data.subarray(0, 100), deflate: false, zip64: false }, { name: 'Backup/UDID/', data: new Uint8Array(0), deflate: false, zip64: false }], false),
      buildZip([{ name: 'Manifest.db', data, deflate: false, zip64: true }, { name: 'x/y', data, deflate: true, zip64: true }], true, 'zip64'),
    ];
  },
  generate: randomZip,
  async run(input) {
    return walk(await ZipSource.open(blobOf(input), 'fuzz.zip'));
  },
};
