import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MVT_BACKUP, PYIOSBACKUP_ENCRYPTED } from '../tests/helpers/fixtures.ts';
import { openDatabaseBytes, selectRows } from '../src/library/sqlite.ts';

/**
 * Seed material from the shared fixtures. Files are only read into memory (never opened in place by
 * a tool that could write beside them); databases are opened from those bytes by SQLite WASM.
 */
export { MVT_BACKUP, PYIOSBACKUP_ENCRYPTED };

export async function fixtureFile(backup: string, name: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(join(backup, name)));
}

let mbFiles: Promise<Uint8Array[]> | undefined;

/** The MBFile blobs (NSKeyedArchiver binary plists) of the MVT fixture's Manifest.db, a spread of shapes. */
export function fixtureMbFiles(limit = 64): Promise<Uint8Array[]> {
  mbFiles ??= (async () => {
    const db = await openDatabaseBytes(await fixtureFile(MVT_BACKUP, 'Manifest.db'), 'Manifest.db');
    try {
      const rows = selectRows(db, 'SELECT file FROM Files WHERE file IS NOT NULL ORDER BY flags, length(file) LIMIT 4000');
      const blobs = rows.map((r) => r['file']).filter((b): b is Uint8Array => b instanceof Uint8Array);
      // Every flag kind and size, not 4000 near-copies.
      const step = Math.max(1, Math.floor(blobs.length / 64));
      return blobs.filter((_, i) => i % step === 0);
    } finally {
      db.close();
    }
  })();
  return mbFiles.then((all) => all.slice(0, limit));
}

/** Every regular file of a fixture backup up to `maxBytes` (payloads: plists, databases, images). */
export async function fixturePayloads(backup: string, maxBytes: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const dir of (await readdir(backup, { withFileTypes: true })).filter((d) => d.isDirectory())) {
    for (const f of await readdir(join(backup, dir.name))) {
      const bytes = await readFile(join(backup, dir.name, f));
      if (bytes.length <= maxBytes) out.push(new Uint8Array(bytes));
    }
  }
  return out;
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
