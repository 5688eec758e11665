// The rows of a host's previous Manifest.db, as the simulated phone reads them back for an encrypted or
// unrecognised incremental backup, are kept as columns (ReadRows), not an object per row: what goes in
// must come out, a fileID read twice keeps the later row (as a Map by fileID did), a fileID of any shape
// is found, and matching a listing gives each row its previous one and leaves the rest gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { fileIdFor } from '../../src/virtual-iphone/services/mobilebackup2/backup-files.ts';
import { ReadRows } from '../../src/virtual-iphone/services/mobilebackup2/previous-rows.ts';
import type { PreviousRow } from '../../src/virtual-iphone/services/mobilebackup2/manifest.ts';

const hexId = (n: number): string => createHash('sha1').update(`row ${n}`).digest('hex');

function rowFor(fileId: string, n: number): PreviousRow {
  const key = n % 3 === 0 ? new Uint8Array(44).fill(n & 0xff) : n % 7 === 0 ? new Uint8Array(n % 50).fill(1) : undefined;
  return { fileId, flags: n % 4 === 0 ? 2 : 1, size: n * 1_000_003, lastModified: 1_700_000_000 + n / 2, fingerprint: n % 11 === 0 ? Number.NaN : n * 0.5, ...(key ? { encryptionKey: key } : {}) };
}

test('thousands of rows come back as they went in, odd fileIDs and keys included', () => {
  const rows = new ReadRows();
  const expected = new Map<string, PreviousRow>();
  const odd = ['', 'HomeDomain-x', 'ABCDEF0123456789ABCDEF0123456789ABCDEF01', `${hexId(1).slice(0, 39)}g`, 'é'];
  for (let n = 0; n < 5000; n++) {
    const fileId = n < odd.length ? odd[n]! : hexId(n);
    const row = rowFor(fileId, n);
    rows.add(row);
    expected.set(fileId, row);
  }
  assert.equal(rows.count, expected.size);
  for (const [fileId, row] of expected) assert.deepEqual(rows.get(fileId), row, fileId);
  assert.deepEqual([...rows].map(([id]) => id), [...expected.keys()], 'in the order read');
  assert.equal(rows.get(hexId(9_999)), undefined);
  assert.equal(rows.has('nothing'), false);
});

test('a fileID read twice keeps the later row, in the earlier one’s place', () => {
  const rows = new ReadRows();
  for (let n = 0; n < 3000; n++) rows.add(rowFor(hexId(n), n));
  rows.add(rowFor(hexId(3), 5)); // read first with a key (3), now without
  rows.add(rowFor('odd', 1));
  rows.add(rowFor('odd', 3));
  assert.equal(rows.count, 3001);
  assert.deepEqual(rows.get(hexId(3)), rowFor(hexId(3), 5));
  assert.equal(rows.fileId(3), hexId(3));
  assert.deepEqual(rows.get('odd'), rowFor('odd', 3));
  assert.equal(rows.encryptionKey(rows.refOf(hexId(3))), undefined, 'the later row has no key: none is left from the earlier');
});

test('matching a listing gives each entry its previous row; the rest are gone', async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 5 });
  const list = dataset.listing(false);
  const fileId = (i: number): string => list.fileId(i, fileIdFor);
  const rows = new ReadRows();
  // Every other entry was in the previous backup, and two files the phone no longer has.
  for (let i = 0; i < list.length; i += 2) rows.add(rowFor(fileId(i), i));
  rows.add(rowFor(hexId(-1), 1));
  rows.add(rowFor('Not-a-fileID', 2));
  const refs = rows.match(list, fileId);
  for (let i = 0; i < list.length; i++) {
    if (i % 2 === 0) assert.equal(rows.fileId(refs[i]!), fileId(i));
    else assert.equal(refs[i], -1);
  }
  assert.deepEqual([...rows.gone()].map((ref) => rows.fileId(ref)), [hexId(-1), 'Not-a-fileID']);
});
