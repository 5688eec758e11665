// Datasets for the OPFS bench. Device-side content is a repeated 1 MiB random pattern copied into
// place, so what is measured is the host path (DeviceLink parsing, the engine, the store), not the
// simulator generating bytes.
import { Dataset, type DatasetEntry, type FileContent } from '../../src/virtual-iphone/dataset/index.ts';
import type { BenchDatasetKind } from './protocol.ts';

const POOL = (() => {
  const bytes = new Uint8Array(1 << 20);
  for (let at = 0; at < bytes.byteLength; at += 65536) crypto.getRandomValues(bytes.subarray(at, at + 65536));
  return bytes;
})();

/** `size` bytes of the pool, starting at a per-file offset and wrapping around. */
export class RepeatingContent implements FileContent {
  constructor(
    readonly size: number,
    private readonly start: number,
  ) {}

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(this.size, offset + length) - offset));
    this.readInto(offset, out);
    return out;
  }

  /** A view of the pool when the range does not wrap: the device then sends it without copying. */
  view(offset: number, length: number): Uint8Array | null {
    const from = (this.start + offset) % POOL.byteLength;
    const take = Math.min(length, this.size - offset);
    return from + take <= POOL.byteLength ? POOL.subarray(from, from + take) : null;
  }

  readInto(offset: number, target: Uint8Array): number {
    const end = Math.min(this.size, offset + target.byteLength);
    let at = offset;
    while (at < end) {
      const from = (this.start + at) % POOL.byteLength;
      const take = Math.min(end - at, POOL.byteLength - from);
      target.set(POOL.subarray(from, from + take), at - offset);
      at += take;
    }
    return Math.max(0, end - offset);
  }
}

export const LARGE_FILES = { count: 4, size: 256 * 1024 * 1024 };
export const SMALL_FILES = { count: 3_000, minSize: 512, maxSize: 8192 };

function fileEntry(domain: string, relativePath: string, content: FileContent, index: number): DatasetEntry {
  return {
    domain,
    relativePath,
    kind: 'file',
    size: content.size,
    mode: 0o100644,
    mtime: 1709251200 + index,
    protectionClass: 3,
    inode: 5000 + index,
    content,
  };
}

/** A `small` dataset whose files are replaced by the bench's own. */
export async function benchDataset(kind: BenchDatasetKind): Promise<Dataset> {
  const dataset = await Dataset.create({ size: 'small', seed: 7 });
  const entries: DatasetEntry[] = [];
  if (kind === 'large-files') {
    for (let i = 0; i < LARGE_FILES.count; i++) {
      entries.push(fileEntry('CameraRollDomain', `Media/DCIM/100APPLE/IMG_${1000 + i}.MOV`, new RepeatingContent(LARGE_FILES.size, i * 7919), i));
    }
  } else {
    let x = 12345;
    for (let i = 0; i < SMALL_FILES.count; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const size = SMALL_FILES.minSize + (x % (SMALL_FILES.maxSize - SMALL_FILES.minSize));
      const domain = `AppDomain-com.example.app${i % 20}`;
      entries.push(fileEntry(domain, `Library/Caches/item-${i}.dat`, new RepeatingContent(size, x % (1 << 20)), i));
    }
  }
  dataset.replaceFromRestore(entries, []);
  return dataset;
}
