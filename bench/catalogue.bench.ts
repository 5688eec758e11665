// The packed (OPFS) store's catalogue at a power user's size (issue 13): 1.3M files laid out as a
// backup lays them out (<UDID>/<xx>/<40-hex fileID>), in memory the way PackedBackend keeps it.
// Reports the catalogue's heap, how long a snapshot takes to encode and how big it is, how long
// opening that snapshot takes, and the journal a full backup writes before its first snapshot.
// Runs in this process, about a minute: `npm run bench -- catalogue`.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Catalogue, FileNode, type CatalogueRecord } from '../src/stores/packed/catalogue.ts';
import { decodeFrames, encodeFrame } from '../src/stores/packed/frame.ts';
import { decodeSnapshotFile } from '../src/stores/packed/snapshot-decoder.ts';
import { encodeSnapshotFrame } from '../src/stores/packed/snapshot-encoder.ts';
import { replay } from '../src/stores/packed/layout.ts';
import type { BenchResult } from './bench-result.ts';

const FILES = Number(process.env.BENCH_CATALOGUE_FILES ?? 1_300_000);
const LABEL = FILES === 1_300_000 ? '1.3M' : FILES.toLocaleString('en');
const UDID = '00008030-001A2B3C4D5E802E';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** JS heap and ArrayBuffer bytes (the catalogue's payload tables live there) after a full collection. */
function memoryAfterGc(): { heap: number; buffers: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

/** Distinct 40-hex names, as sha1 fileIDs look (a cheap generator, not SHA-1). */
function fileId(i: number): string {
  let x = (i + 1) * 0x9e3779b1;
  let s = '';
  for (let k = 0; k < 5; k++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) ^ k;
    s += (x >>> 0).toString(16).padStart(8, '0');
  }
  return s;
}

function ms(started: number): number {
  return performance.now() - started;
}

export default async function catalogueBench(): Promise<BenchResult[]> {
  const release = (): void => undefined;
  const before = memoryAfterGc();
  let started = performance.now();
  let catalogue: Catalogue | null = new Catalogue();
  for (let p = 0; p < 256; p++) catalogue.mkdirp(`${UDID}/${p.toString(16).padStart(2, '0')}`);
  const record = (i: number): ['F', string, number, number, number, number, 0] => {
    const name = fileId(i);
    return ['F', `${UDID}/${name.slice(0, 2)}/${name}`, 1 + (i >> 16), (i & 0xffff) * 1024, 200 + (i % 3000), 150_000_000 + i, 0];
  };
  for (let i = 0; i < FILES; i++) {
    const [, path, store, offset, size, mtime] = record(i);
    catalogue.setFile(path, new FileNode(store, offset, size, mtime, false), release);
  }
  const buildMs = ms(started);
  const after = memoryAfterGc();
  const heap = after.heap - before.heap;
  const tables = after.buffers - before.buffers;
  console.log(`  heap before ${(before.heap / 1e6).toFixed(0)} MB, after ${(after.heap / 1e6).toFixed(0)} MB; ArrayBuffers ${(tables / 1e6).toFixed(0)} MB`);
  started = performance.now();
  const snapshot = encodeSnapshotFrame(catalogue);
  const snapshotMs = ms(started);
  catalogue = null;
  memoryAfterGc();
  started = performance.now();
  let opened: Catalogue | null = decodeSnapshotFile(snapshot);
  const openMs = ms(started);
  if (opened?.list(UDID).length !== 256) throw new Error('the reopened catalogue lost folders');
  opened = null;
  memoryAfterGc();
  // The way the store opened a snapshot before decodeSnapshotFile, for comparison.
  started = performance.now();
  const parsed = Catalogue.fromJSON(decodeFrames(snapshot).values[0]);
  const parseOpenMs = ms(started);
  if (parsed.list(UDID).length !== 256) throw new Error('the parsed catalogue lost folders');
  // The journal of a full backup until its first snapshot: one 'F' record (and frame) per file.
  const records: CatalogueRecord[] = Array.from({ length: 100_000 }, (_, i) => record(i));
  started = performance.now();
  const journalParts = records.map((r) => encodeFrame(r));
  const journalBytesPer100k = journalParts.reduce((n, f) => n + f.byteLength, 0);
  const journalEncodeMs = ms(started);
  const joined = new Uint8Array(journalBytesPer100k);
  let at = 0;
  for (const f of journalParts) {
    joined.set(f, at);
    at += f.byteLength;
  }
  const fresh = new Catalogue();
  for (let p = 0; p < 256; p++) fresh.mkdirp(`${UDID}/${p.toString(16).padStart(2, '0')}`);
  started = performance.now();
  replay(fresh, decodeFrames(joined).values);
  const replayMsPer100k = ms(started);
  const perFile = (heap + tables) / FILES;
  console.log(
    `  catalogue of ${FILES.toLocaleString('en')} files: heap ${(heap / 1e6).toFixed(0)} MB + tables ${(tables / 1e6).toFixed(0)} MB (${perFile.toFixed(0)} B/file, built in ${(buildMs / 1000).toFixed(1)} s); ` +
      `snapshot ${(snapshot.byteLength / 1e6).toFixed(0)} MB encoded in ${(snapshotMs / 1000).toFixed(1)} s, opened in ${(openMs / 1000).toFixed(1)} s (JSON.parse and fromJSON: ${(parseOpenMs / 1000).toFixed(1)} s); ` +
      `journal ${(journalBytesPer100k / 1e5).toFixed(0)} B/file (${((journalBytesPer100k * FILES) / 1e5 / 1e6).toFixed(0)} MB for all), encoded at ${(journalEncodeMs / 100).toFixed(2)} s/M, replayed at ${(replayMsPer100k / 100).toFixed(1)} s/M files`,
  );
  return [
    { name: `packed store catalogue at ${LABEL} files: JS heap`, value: heap / 1e6, unit: 'MB', target: 250, better: 'lower' },
    { name: `packed store catalogue at ${LABEL} files: memory (JS heap + payload tables)`, value: (heap + tables) / 1e6, unit: 'MB', target: 250, better: 'lower' },
    { name: `packed store catalogue at ${LABEL} files: snapshot encode time`, value: snapshotMs / 1000, unit: 's', target: 5, better: 'lower' },
    { name: `packed store catalogue at ${LABEL} files: snapshot size`, value: snapshot.byteLength / 1e6, unit: 'MB', target: 100, better: 'lower' },
    { name: `packed store catalogue at ${LABEL} files: open (decode + rebuild) time`, value: openMs / 1000, unit: 's', target: 5, better: 'lower' },
    { name: `packed store journal replay at ${LABEL} files (open without a snapshot)`, value: (replayMsPer100k * FILES) / 1e5 / 1000, unit: 's', target: 10, better: 'lower' },
  ];
}
