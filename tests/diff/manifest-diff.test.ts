import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { archive, encodeBinaryPlist } from '../../src/plist/index.ts';
import { loadSqlite, openDatabaseBytes } from '../../src/library/sqlite.ts';
import { diffManifests } from '../../src/library/diff/manifest-diff.ts';

/** What an MBFile record may hold that the diff looks at, and what it must ignore. */
interface Row {
  domain: string;
  path: string;
  size?: number;
  mtime?: number;
  mode?: number;
  flags?: number;
  key?: number;
  inode?: number;
}

async function manifest(rows: Row[]): Promise<Uint8Array> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    db.exec('CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB)');
    for (const r of rows) {
      const blob = encodeBinaryPlist(
        archive({ $class: 'MBFile', Birth: 1700000000, GroupID: 501, LastModified: r.mtime ?? 1700000100, LastStatusChange: 1700000200, Mode: r.mode ?? 0o100644,
          InodeNumber: r.inode ?? 1, ProtectionClass: 3, RelativePath: r.path, Size: r.size ?? 10, UserID: 501, Flags: 0, EncryptionKey: new Uint8Array(44).fill(r.key ?? 0) }),
      );
      const id = createHash('sha1').update(`${r.domain}-${r.path}`).digest('hex');
      db.exec({ sql: 'INSERT INTO Files VALUES (?, ?, ?, ?, ?)', bind: [id, r.domain, r.path, r.flags ?? 1, blob] });
    }
    return sqlite3.capi.sqlite3_js_db_export(db);
  } finally {
    db.close();
  }
}

test('modified is judged from size, modification time, mode and kind; a new wrapped key or inode is no change', async () => {
  const D = 'AppDomain-com.example.app';
  const old = await openDatabaseBytes(
    await manifest([
      { domain: D, path: 'Documents', flags: 2, mode: 0o40755 },
      { domain: D, path: 'Documents/same.txt' },
      { domain: D, path: 'Documents/rekeyed.txt', key: 1, inode: 5 },
      { domain: D, path: 'Documents/grown.txt', size: 10 },
      { domain: D, path: 'Documents/touched.txt', mtime: 1 },
      { domain: D, path: 'Documents/chmod.txt', mode: 0o100644 },
      { domain: D, path: 'Documents/gone.txt', size: 7 },
      { domain: D, path: 'Documents/latest', size: 10 },
      { domain: D, path: 'Documents/old-name.bin', size: 99, mtime: 42 },
      { domain: 'HomeDomain', path: 'Library/SMS/sms.db', size: 4096 },
    ]),
    'old',
  );
  const now = await openDatabaseBytes(
    await manifest([
      { domain: D, path: 'Documents', flags: 2, mode: 0o40755, mtime: 999 }, // a folder's time follows its contents
      { domain: D, path: 'Documents/same.txt' },
      { domain: D, path: 'Documents/rekeyed.txt', key: 2, inode: 6 },
      { domain: D, path: 'Documents/grown.txt', size: 20 },
      { domain: D, path: 'Documents/touched.txt', mtime: 2 },
      { domain: D, path: 'Documents/chmod.txt', mode: 0o100600 },
      { domain: D, path: 'Documents/latest', size: 0, flags: 4, mode: 0o120755 }, // a file that became a link
      { domain: D, path: 'Documents/new-name.bin', size: 99, mtime: 42 },
      { domain: D, path: 'Documents/new.txt', size: 3 },
      { domain: 'HomeDomain', path: 'Library/SMS/sms.db', size: 8192 },
    ]),
    'new',
  );
  try {
    const diff = diffManifests(await loadSqlite(), old, now);
    const byPath = (list: { relativePath: string }[]) => list.map((e) => e.relativePath);
    assert.deepEqual(byPath(diff.added), ['Documents/new-name.bin', 'Documents/new.txt']);
    assert.deepEqual(byPath(diff.removed), ['Documents/gone.txt', 'Documents/old-name.bin']);
    assert.deepEqual(
      diff.modified.map((m) => [m.relativePath, m.reasons, m.oldSize, m.newSize]),
      [
        ['Documents/chmod.txt', ['mode'], 10, 10],
        ['Documents/grown.txt', ['size'], 10, 20],
        ['Documents/latest', ['kind', 'size', 'mode'], 10, 0],
        ['Documents/touched.txt', ['modified-time'], 10, 10],
        ['Library/SMS/sms.db', ['size'], 4096, 8192],
      ],
    );
    assert.equal(diff.unchanged, 3, 'the folder, same.txt and rekeyed.txt');
    assert.deepEqual(diff.renamed.map((r) => [r.from.relativePath, r.to.relativePath]), [['Documents/old-name.bin', 'Documents/new-name.bin']]);
    assert.deepEqual(diff.byCategory.messages, { added: 0, removed: 0, modified: 1, addedBytes: 0, removedBytes: 0, modifiedDelta: 4096 });
    assert.equal(diff.byDomain[D]!.added, 2);
    assert.equal(diff.newTotals.totalSize - diff.oldTotals.totalSize, 8192 - 4096 + 10 + 99 + 3 - 7 - 99 - 10);
  } finally {
    old.close();
    now.close();
  }
});
