// "What changed" figures: the diff of two 1M-row Manifest.db (the library bench's synthetic one, and
// a copy with 1,000 rows removed, 1,000 added and 1,000 resized), and the same at 100k rows.
import { median, type BenchResult } from './bench-result.ts';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manifestBytes, MANIFEST_CACHE } from './library.bench.ts';
import { loadSqlite } from '../src/library/sqlite.ts';
import { ManifestDb } from '../src/library/manifest-db.ts';
import { diffManifests } from '../src/library/diff/manifest-diff.ts';
import { archive, encodeBinaryPlist } from '../src/plist/index.ts';

const CHANGES = 1000;

async function manifestPath(): Promise<string> {
  if (!existsSync(MANIFEST_CACHE)) await manifestBytes(); // builds the cached file
  return MANIFEST_CACHE;
}

/**
 * The 1M-row file cut to `rows` rows (whole when undefined), and a changed copy: 1,000 rows removed,
 * 1,000 resized, 1,000 added. Made with Debian's sqlite3 on disk (an 890 MB database is too big to
 * export through SQLite WASM's heap a second time) and cached beside the original.
 */
async function pair(rows: number | undefined): Promise<[string, string]> {
  const source = await manifestPath();
  const n = rows ?? 1_000_000;
  const older = rows === undefined ? source : join(tmpdir(), `lifeboat-bench-diff-${n}-old-v1.db`);
  const newer = join(tmpdir(), `lifeboat-bench-diff-${n}-new-v1.db`);
  const resized = encodeBinaryPlist(
    archive({ $class: 'MBFile', Birth: 1700000000, GroupID: 501, LastModified: 1700009999, LastStatusChange: 1700000200, Mode: 0o100644,
      InodeNumber: 12345, ProtectionClass: 3, RelativePath: 'Library/Folder0/file0.dat', Size: 8192, UserID: 501, Flags: 0, EncryptionKey: new Uint8Array(44) }),
  );
  const hex = Buffer.from(resized).toString('hex');
  const step = Math.floor(n / CHANGES);
  const sqlite = (db: string, sql: string) => execFileSync('sqlite3', [db], { input: sql });
  if (!existsSync(older)) {
    await copyFile(source, `${older}.tmp`);
    sqlite(`${older}.tmp`, `DELETE FROM Files WHERE rowid > ${n}; VACUUM;`);
    await rename(`${older}.tmp`, older);
  }
  if (!existsSync(newer)) {
    await copyFile(older, `${newer}.tmp`);
    sqlite(
      `${newer}.tmp`,
      `DELETE FROM Files WHERE rowid % ${step} = 1 AND rowid <= ${step * CHANGES};
       UPDATE Files SET file = X'${hex}' WHERE rowid % ${step} = 2 AND rowid <= ${step * CHANGES};
       INSERT INTO Files SELECT printf('new%037x', rowid), domain, 'Library/New/' || relativePath, flags, file FROM Files WHERE rowid % ${step} = 3 AND rowid <= ${step * CHANGES};`,
    );
    await rename(`${newer}.tmp`, newer);
  }
  return [older, newer];
}

/** Wall time, and the CPU time the process spent (what the figure would be with the cores to itself: the bench VM is shared). */
async function measure(label: string, older: string, newer: string, target: number): Promise<BenchResult[]> {
  const sqlite3 = await loadSqlite();
  // Opened one at a time, the file's bytes dropped once SQLite has its copy (two 890 MB files).
  const a = await ManifestDb.open(new Uint8Array(await readFile(older)));
  const b = await ManifestDb.open(new Uint8Array(await readFile(newer)));
  try {
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const c = process.cpuUsage();
      const diff = diffManifests(sqlite3, a.db, b.db);
      const used = process.cpuUsage(c);
      times.push(performance.now() - t);
      cpu.push((used.user + used.system) / 1000);
      if (diff.added.length !== CHANGES || diff.removed.length !== CHANGES || diff.modified.length !== CHANGES) {
        throw new Error(`diff found +${diff.added.length} -${diff.removed.length} ~${diff.modified.length}, expected ${CHANGES} each`);
      }
    }
    console.log(`  ${label} runs (ms): ${times.map((v) => v.toFixed(0)).join(', ')}; CPU (ms): ${cpu.map((v) => v.toFixed(0)).join(', ')}`);
    return [
      { name: `diff: ${label}`, value: median(times), unit: 'ms', target, better: 'lower' },
      { name: `diff: ${label}, CPU time`, value: median(cpu), unit: 'ms', target, better: 'lower' },
    ];
  } finally {
    a.close();
    b.close();
  }
}

export default async function (): Promise<BenchResult[]> {
  const [older, newer] = await pair(undefined);
  const big = await measure('two 1M-row Manifest.db, 3,000 changes (merge + paths)', older, newer, 3000);
  const [older100k, newer100k] = await pair(100_000);
  const small = await measure('two 100k-row Manifest.db, 3,000 changes (the app’s first view, worker side)', older100k, newer100k, 1000);
  return [...big, ...small];
}
