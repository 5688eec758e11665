import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TruthEntry } from './dataset.ts';

const FLAGS: Record<TruthEntry['kind'], number> = { file: 1, dir: 2, symlink: 4 };

export interface TruthCheckResult {
  entries: number;
  files: number;
  /** One line per difference, at most `maxProblems` of them. */
  problems: string[];
}

/**
 * Checks an unencrypted backup folder (the one holding Manifest.db) against the device's truth, one
 * entry at a time: every entry has its Manifest.db row with the right flags, every file's payload
 * has the truth's SHA-256, and Manifest.db has no row the truth lacks. Reads Manifest.db through the
 * sqlite3 command-line tool, so a 1.5 GB manifest is streamed, not loaded. Node only.
 */
export async function checkBackupAgainstTruth(backupDir: string, truth: AsyncIterable<TruthEntry> | Iterable<TruthEntry>, maxProblems = 20): Promise<TruthCheckResult> {
  const rows = await manifestFlags(join(backupDir, 'Manifest.db'));
  const problems: string[] = [];
  const problem = (text: string): void => {
    if (problems.length < maxProblems) problems.push(text);
  };
  let entries = 0;
  let files = 0;
  for await (const entry of truth) {
    entries++;
    const id = createHash('sha1').update(`${entry.domain}-${entry.relativePath}`).digest('hex');
    const flags = rows.get(id);
    rows.delete(id);
    if (flags === undefined) {
      problem(`missing from Manifest.db: ${entry.domain}-${entry.relativePath}`);
      continue;
    }
    if (flags !== FLAGS[entry.kind]) problem(`${entry.domain}-${entry.relativePath}: flags ${flags}, expected ${FLAGS[entry.kind]}`);
    if (entry.kind !== 'file') continue;
    files++;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(backupDir, id.slice(0, 2), id));
    } catch {
      problem(`no payload for ${entry.domain}-${entry.relativePath} (${id})`);
      continue;
    }
    if (bytes.byteLength !== entry.size) problem(`${entry.domain}-${entry.relativePath}: ${bytes.byteLength} bytes, expected ${entry.size}`);
    else if (entry.sha256 !== undefined && createHash('sha256').update(bytes).digest('hex') !== entry.sha256) problem(`${entry.domain}-${entry.relativePath}: content differs`);
  }
  for (const id of rows.keys()) problem(`Manifest.db row ${id} is not in the truth`);
  return { entries, files, problems };
}

/** fileID → flags of every Manifest.db row. */
async function manifestFlags(path: string): Promise<Map<string, number>> {
  const child = spawn('/usr/bin/sqlite3', ['-readonly', '-separator', ' ', path, 'SELECT fileID, flags FROM Files'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'close');
  const rows = new Map<string, number>();
  for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
    const space = line.indexOf(' ');
    if (space > 0) rows.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`sqlite3 could not read ${path}: ${stderr.trim()}`);
  return rows;
}
