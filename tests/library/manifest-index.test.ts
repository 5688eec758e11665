import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { decodeMbFile } from '../../src/library/mbfile.ts';
import { MbFileFieldReader } from '../../src/library/mbfile-fields.ts';
import { archive, encodeBinaryPlist, encodeXmlPlist, PlistUid } from '../../src/plist/index.ts';
import { MVT_BACKUP } from '../helpers/fixtures.ts';

const MVT = MVT_BACKUP;

function fullSizeMode(blob: Uint8Array): { size: number; mode: number } {
  try {
    const m = decodeMbFile(blob);
    return { size: m.size, mode: m.mode };
  } catch {
    return { size: 0, mode: 0 };
  }
}

test('MbFileFieldReader agrees with decodeMbFile on every MVT row, or declines', async () => {
  const reader = await BackupReader.open(new NodeFsSource(MVT));
  try {
    const fields = new MbFileFieldReader();
    let read = 0;
    for (const row of reader.manifest.rows()) {
      if (!row.blob) continue;
      // Inside a larger buffer, as the index reads it straight from SQLite's memory.
      const padded = new Uint8Array(row.blob.length + 7);
      padded.set(row.blob, 3);
      if (fields.read(padded, 3, row.blob.length)) {
        read++;
        assert.deepEqual({ size: fields.size, mode: fields.mode }, fullSizeMode(row.blob), row.relativePath);
      }
    }
    assert.ok(read > 3000, `read ${read} blobs the fast way`);
  } finally {
    reader.close();
  }
});

test('MbFileFieldReader: UID-referenced values, $null, XML and damaged blobs', () => {
  const fields = new MbFileFieldReader();
  const shaped = encodeBinaryPlist({
    $version: 100000,
    $archiver: 'NSKeyedArchiver',
    $top: { root: new PlistUid(1) },
    $objects: ['$null', { Size: new PlistUid(2), Mode: new PlistUid(0), $class: new PlistUid(3) }, 123456789012, { $classname: 'MBFile', $classes: ['MBFile', 'NSObject'] }],
  });
  assert.equal(fields.read(shaped, 0, shaped.length), true);
  assert.deepEqual({ size: fields.size, mode: fields.mode }, { size: 123456789012, mode: 0 });
  assert.deepEqual(fullSizeMode(shaped), { size: 123456789012, mode: 0 });

  const plain = encodeBinaryPlist(archive({ $class: 'MBFile', Size: 70000, Mode: 0o100644, RelativePath: 'a/b' }));
  assert.equal(fields.read(plain, 0, plain.length), true);
  assert.deepEqual({ size: fields.size, mode: fields.mode }, { size: 70000, mode: 0o100644 });

  const xml = encodeXmlPlist(archive({ $class: 'MBFile', Size: 5, Mode: 0o100644 }));
  assert.equal(fields.read(xml, 0, xml.length), false, 'XML goes to the full decoder');
  for (let cut = 1; cut < plain.length; cut += 7) {
    const damaged = plain.slice();
    damaged[cut] = damaged[cut]! ^ 0xff;
    if (fields.read(damaged, 0, damaged.length)) {
      // Whatever it reads must be what the full decoder reads, when that one reads anything.
      const full = fullSizeMode(damaged);
      if (full.size || full.mode) assert.deepEqual({ size: fields.size, mode: fields.mode }, full);
    }
  }
  assert.equal(fields.read(plain, 0, 20), false);
});

test('index-backed list, search, domains and totals match what SQL says', async () => {
  const reader = await BackupReader.open(new NodeFsSource(MVT));
  try {
    const m = reader.manifest;
    const sql = (q: string, bind: (string | number)[] = []) => m.db.selectObjects(q, bind) as Record<string, unknown>[];
    // domains
    const expectedDomains = sql('SELECT domain, count(*) AS n FROM Files GROUP BY domain ORDER BY domain').map((r) => ({ domain: r['domain'], count: r['n'] }));
    assert.deepEqual(m.domains(), expectedDomains);
    // every folder of HomeDomain lists exactly its direct children, sorted
    const home = sql("SELECT relativePath FROM Files WHERE domain = 'HomeDomain' AND flags = 2").map((r) => String(r['relativePath']));
    for (const folder of ['', ...home]) {
      const prefix = folder === '' ? '' : `${folder}/`;
      const expected = sql(
        `SELECT fileID FROM Files WHERE domain = 'HomeDomain' AND relativePath <> '' AND substr(relativePath, 1, ?) = ?
         AND instr(substr(relativePath, ? + 1), '/') = 0 ORDER BY relativePath`,
        [prefix.length, prefix, prefix.length],
      ).map((r) => r['fileID']);
      assert.deepEqual(m.list('HomeDomain', folder).map((e) => e.fileID), expected, folder);
    }
    // search: same rows, same order as a LIKE scan, limit honoured
    for (const q of ['sms', 'Library/Preferences', '.PLIST', 'a', '']) {
      const expected = sql("SELECT fileID FROM Files WHERE relativePath LIKE ? ESCAPE '\\' ORDER BY rowid LIMIT 40", [`%${q}%`]).map((r) => r['fileID']);
      assert.deepEqual(m.search(q, 40).map((e) => e.fileID), expected, q);
    }
    assert.equal(m.search('.plist', -1).length, Number(m.db.selectValue("SELECT count(*) FROM Files WHERE relativePath LIKE '%.plist%'")));
    // totals = full decode of every file row
    let fileCount = 0;
    let totalSize = 0;
    for (const row of m.rows()) {
      if (row.kind !== 'file') continue;
      fileCount++;
      totalSize += row.blob ? fullSizeMode(row.blob).size : 0;
    }
    assert.deepEqual(m.totals(), { fileCount, totalSize });
  } finally {
    reader.close();
  }
});

test('the index over many chunks of mixed paths lists and searches as the paths say (ASCII and not, upper case, NULL)', async () => {
  const { loadSqlite } = await import('../../src/library/sqlite.ts');
  const { ManifestDb } = await import('../../src/library/manifest-db.ts');
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  db.exec('CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB)');
  const blob = encodeBinaryPlist(archive({ $class: 'MBFile', Size: 10, Mode: 0o100644, LastModified: 1, Birth: 1, LastStatusChange: 1, InodeNumber: 1, UserID: 501, GroupID: 501, Flags: 0, ProtectionClass: 3 }));
  // 140k rows: three search chunks; one holds non-ASCII names (Turkish İ lengthens when lowercased), one only ASCII.
  const odd = ['Grüße/Äpfel.TXT', 'İstanbul/Ο ΣΟΦΟΣ.txt', '日本語/メモ.txt', 'emoji/📷 Photo.JPG'];
  const rows: [string, string, string | null, number][] = [];
  for (let i = 0; i < 140_000; i++) {
    const domain = `AppDomain-com.Example.app${(i >> 9) % 7}`;
    // Folders change every few rows, and sometimes go back to an earlier one in the same domain.
    const folder = i % 11 === 0 ? 'Library/Caches' : `Documents/Sub${(i >> 3) % 13}`;
    let path: string | null = `${folder}/File-${i}.${i % 3 === 0 ? 'PNG' : 'dat'}`;
    if (i >= 70_000 && i < 70_010) path = odd[i % odd.length]!;
    if (i === 100_000) path = null;
    if (i % 5000 === 0) path = '';
    rows.push([`${i.toString(16).padStart(40, '0')}`, domain, path, path === '' ? 2 : 1]);
  }
  const insert = db.prepare('INSERT INTO Files VALUES (?, ?, ?, ?, ?)');
  db.exec('BEGIN');
  for (const r of rows) insert.bind([...r, blob]).stepReset();
  db.exec('COMMIT');
  insert.finalize();
  const bytes = sqlite3.capi.sqlite3_js_db_export(db);
  db.close();
  const m = await ManifestDb.open(bytes);
  try {
    for (const q of ['file-1234', 'PNG', 'äpfel', 'İSTANBUL', 'istanbul', 'σοφοσ', 'メモ', '📷 photo', 'sub12/', '/', 'zzz']) {
      const needle = q.toLowerCase();
      const expected = rows.filter((r) => (r[2] ?? '').toLowerCase().includes(needle)).map((r) => r[0]);
      assert.deepEqual(m.search(q, -1).map((e) => e.fileID), expected, q);
    }
    const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/') + 1);
    for (const [domain, folder] of [['AppDomain-com.Example.app3', 'Documents/Sub7'], ['AppDomain-com.Example.app0', 'Library/Caches'], ['AppDomain-com.Example.app5', ''], ['AppDomain-com.Example.app3', 'Grüße'], ['AppDomain-com.Example.app3', 'İstanbul']]) {
      const key = folder === '' ? '' : `${folder}/`;
      const expected = rows.filter((r) => r[1] === domain && r[2] && parentOf(r[2]) === key).map((r) => r[0]).sort();
      assert.deepEqual(m.list(domain!, folder!).map((e) => e.fileID).sort(), expected, `${domain} ${folder}`);
      assert.ok(expected.length > 0 || folder === '', `${domain} ${folder} has rows`);
    }
    assert.equal(m.totals().fileCount, rows.filter((r) => r[3] === 1).length);
  } finally {
    m.close();
  }
});
