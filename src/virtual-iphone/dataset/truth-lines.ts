import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Dataset, TruthEntry } from './dataset.ts';

/**
 * The truth as JSON lines (one TruthEntry per line, in `entries()` order): the huge dataset's 1.3M
 * entries would make one JSON array of several hundred MB, built in memory twice. Node only.
 */
export async function writeTruthLines(dataset: Dataset, encrypted: boolean, path: string): Promise<number> {
  const out = createWriteStream(path);
  let count = 0;
  let pending = '';
  try {
    for await (const entry of dataset.truthEntries(encrypted)) {
      pending += `${JSON.stringify(entry)}\n`;
      count++;
      if (pending.length > 1 << 20) {
        if (!out.write(pending)) await once(out, 'drain');
        pending = '';
      }
    }
    out.write(pending);
  } finally {
    out.end();
    await once(out, 'close');
  }
  return count;
}

/** Reads a truth file one entry at a time: JSON lines, or the JSON array smaller datasets write (read whole). */
export async function* readTruthLines(path: string): AsyncGenerator<TruthEntry> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let first = true;
  for await (const line of lines) {
    if (first && line.startsWith('[')) {
      lines.close();
      yield* JSON.parse(await readFile(path, 'utf8')) as TruthEntry[];
      return;
    }
    first = false;
    if (line.length > 0) yield JSON.parse(line) as TruthEntry;
  }
}
