// The virtual iPhone reads the host's previous Manifest.db back for an incremental backup. A huge one
// (1.19 GB at 1.3M files) is read in place with the host's scanner, not copied into SQLite WASM; both
// readers must give the device the same rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { buildManifestDb, manifestRow } from '../../src/virtual-iphone/services/index.ts';
import { readManifestDb } from '../../src/virtual-iphone/services/mobilebackup2/manifest.ts';

test('a previous Manifest.db read in place gives the device the rows SQLite gives it', async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 3 });
  const rows = dataset.entries(false).map((e, i) => manifestRow(e, i % 5 === 0 ? new Uint8Array(44).fill(i % 251) : undefined));
  const bytes = await buildManifestDb(rows);
  const bySqlite = await readManifestDb(bytes);
  const inPlace = await readManifestDb(bytes, 0);
  assert.ok(bySqlite && inPlace);
  assert.ok(bySqlite.count > 100, `${bySqlite.count} rows`);
  assert.deepEqual([...inPlace.entries()].sort(), [...bySqlite.entries()].sort());
  assert.equal(await readManifestDb(new Uint8Array(4096), 0), null, 'not a database: a full backup instead');

  // A host may keep it in WAL mode (header bytes 18 and 19 are 2), which an in-memory database refuses.
  const wal = bytes.slice();
  wal[18] = 2;
  wal[19] = 2;
  const walRows = await readManifestDb(wal);
  assert.ok(walRows, 'read, not taken for no manifest');
  assert.deepEqual([...walRows].sort(), [...bySqlite].sort());
  assert.equal(wal[18], 2, 'the host’s bytes are left as they are');
});
