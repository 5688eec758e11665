// SQLite -wal siblings: databases made by the real sqlite3 (/usr/bin/sqlite3) in WAL mode, copied
// while the writer still holds them so the newest rows exist only in the -wal, then read through a
// backup. The real sqlite3 reading the same (intact, torn or damaged) pair is the reference.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyWal } from '../../src/library/sqlite-wal.ts';
import { openDatabaseBytes } from '../../src/library/sqlite.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { readChats, readMessages } from '../../src/library/categories/messages.ts';
import { readContacts } from '../../src/library/categories/contacts.ts';
import { searchContent } from '../../src/library/content-search.ts';
import { generateBackup, type GeneratedFile } from './backup-generator.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-wal-'));
  cleanup.push(dir);
  return dir;
}

function sqlite3(dir: string, db: string, ...commands: string[]): string {
  const r = spawnSync('sqlite3', ['-batch', db, ...commands], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `sqlite3 failed: ${r.stderr}`);
  return r.stdout;
}

const SMS_SCHEMA = `CREATE TABLE handle (ROWID INTEGER PRIMARY KEY, id TEXT, service TEXT);
  CREATE TABLE chat (ROWID INTEGER PRIMARY KEY, guid TEXT, chat_identifier TEXT, display_name TEXT, service_name TEXT);
  CREATE TABLE message (ROWID INTEGER PRIMARY KEY, guid TEXT, text TEXT, handle_id INTEGER, service TEXT, date INTEGER, is_from_me INTEGER);
  CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER, message_date INTEGER);
  CREATE TABLE chat_handle_join (chat_id INTEGER, handle_id INTEGER);
  INSERT INTO handle VALUES (1, '+15551234567', 'iMessage');
  INSERT INTO chat VALUES (1, 'c1', '+15551234567', '', 'iMessage');
  INSERT INTO chat_handle_join VALUES (1, 1);`;

const message = (id: number, text: string) =>
  `INSERT INTO message VALUES (${id}, 'M${id}', '${text}', 1, 'iMessage', ${720000000 + id * 60}000000000, ${id % 2}); INSERT INTO chat_message_join VALUES (1, ${id}, 0);`;

/**
 * sms.db checkpointed with two messages, then two more transactions (each touching two pages)
 * that live only in the WAL: copies taken by the writer itself before it closes and checkpoints.
 */
async function smsWithWal(): Promise<{ dir: string; db: Uint8Array; wal: Uint8Array }> {
  const dir = await tempDir();
  sqlite3(dir, 'sms.db', 'PRAGMA journal_mode=WAL;', `${SMS_SCHEMA} ${message(1, 'first')} ${message(2, 'second')}`);
  sqlite3(
    dir,
    'sms.db',
    'PRAGMA wal_autocheckpoint=0;',
    `BEGIN; ${message(3, 'third, only in the WAL')} COMMIT;`,
    `BEGIN; ${message(4, 'fourth, the newest')} UPDATE chat SET display_name = 'Walrus club' WHERE ROWID = 1; COMMIT;`,
    '.system cp sms.db copy.db && cp sms.db-wal copy.db-wal',
  );
  return { dir, db: new Uint8Array(await readFile(join(dir, 'copy.db'))), wal: new Uint8Array(await readFile(join(dir, 'copy.db-wal'))) };
}

/** What the real sqlite3 reads from `db` with `wal` beside it (in a fresh folder, it may checkpoint there). */
async function sqliteReads(db: Uint8Array, wal: Uint8Array | undefined, sql: string): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, 'x.db'), db);
  if (wal) await writeFile(join(dir, 'x.db-wal'), wal);
  return sqlite3(dir, 'x.db', sql);
}

async function ourReads(db: Uint8Array, wal: Uint8Array, sql: string): Promise<string> {
  const merged = applyWal(db, wal).bytes;
  const opened = await openDatabaseBytes(merged, 'sms.db');
  try {
    return opened.selectArrays(sql).map((row) => row.join('|') + '\n').join('');
  } finally {
    opened.close();
  }
}

const TEXTS = 'SELECT ROWID, text FROM message ORDER BY ROWID';

test('applyWal: committed WAL frames from the real sqlite3 are applied; the main file alone lacks them', async () => {
  const { db, wal } = await smsWithWal();
  assert.ok(wal.length > 32 + 3 * (24 + 4096), 'the WAL holds several frames');
  const without = await openDatabaseBytes(db, 'sms.db');
  assert.deepEqual(without.selectValues('SELECT text FROM message ORDER BY ROWID'), ['first', 'second']);
  without.close();

  const applied = applyWal(db, wal);
  assert.ok(applied.frames >= 4, `frames applied: ${applied.frames}`);
  const expected = await sqliteReads(db, wal, TEXTS);
  assert.equal(expected, '1|first\n2|second\n3|third, only in the WAL\n4|fourth, the newest\n');
  assert.equal(await ourReads(db, wal, TEXTS), expected);
  assert.equal(await ourReads(db, wal, 'SELECT display_name FROM chat'), 'Walrus club\n');
  assert.equal(await ourReads(db, wal, 'PRAGMA integrity_check'), 'ok\n');
});

test('applyWal: a torn or damaged WAL counts up to its last valid commit, like sqlite3, without an error', async () => {
  const { db, wal } = await smsWithWal();
  const frameSize = 24 + 4096;
  const frames = (wal.length - 32) / frameSize;
  assert.equal(Number.isInteger(frames), true);
  // The last transaction's commit frame cut in half: its other frame is valid but uncommitted.
  const torn = wal.subarray(0, wal.length - frameSize / 2);
  // One flipped byte in the last frame's page: its checksum fails.
  const flipped = wal.slice();
  flipped[wal.length - 100] ^= 0xff;
  // The last frame from another WAL generation (other salts).
  const resalted = wal.slice();
  resalted[wal.length - frameSize + 8] ^= 0x01;
  for (const [name, damaged] of [['torn', torn], ['flipped', flipped], ['resalted', resalted]] as const) {
    const expected = await sqliteReads(db, damaged, TEXTS);
    assert.equal(expected, '1|first\n2|second\n3|third, only in the WAL\n', `sqlite3 on the ${name} WAL`);
    assert.equal(await ourReads(db, damaged, TEXTS), expected, `${name} WAL`);
  }
  // Garbage, an empty file, a bad header checksum: the database as it is.
  const badHeader = wal.slice();
  badHeader[20] ^= 0x01;
  const garbage = new Uint8Array(5000).map((_, i) => (i * 131 + 7) & 0xff);
  for (const [name, junk] of [['garbage', garbage], ['empty', new Uint8Array()], ['bad header', badHeader]] as const) {
    const result = applyWal(db, junk);
    assert.equal(result.frames, 0, name);
    assert.equal(result.bytes, db, name);
    assert.equal(await ourReads(db, junk, TEXTS), '1|first\n2|second\n', name);
  }
});

test('applyWal: a table created after the last checkpoint exists only in the WAL; an empty main file takes the WAL whole', async () => {
  const dir = await tempDir();
  sqlite3(dir, 'n.db', 'PRAGMA journal_mode=WAL;', 'PRAGMA wal_autocheckpoint=0;', "CREATE TABLE t(x); INSERT INTO t VALUES ('only here');", '.system cp n.db c.db && cp n.db-wal c.db-wal');
  const db = new Uint8Array(await readFile(join(dir, 'c.db')));
  const wal = new Uint8Array(await readFile(join(dir, 'c.db-wal')));
  const alone = await openDatabaseBytes(db, 'n.db');
  assert.equal(alone.selectValue("SELECT count(*) FROM sqlite_master WHERE name = 't'"), 0, 'the main file has no table t');
  alone.close();
  assert.equal(await ourReads(db, wal, 'SELECT x FROM t'), 'only here\n');
  assert.equal(await ourReads(new Uint8Array(), wal, 'SELECT x FROM t'), 'only here\n');
});

for (const password of [undefined, 'wal pw']) {
  test(`${password ? 'an encrypted' : 'a plain'} backup holding sms.db + sms.db-wal and AddressBook.sqlitedb-wal shows the WAL-only rows`, async () => {
    const { db, wal } = await smsWithWal();
    const abDir = await tempDir();
    sqlite3(abDir, 'ab.db', 'PRAGMA journal_mode=WAL;',
      "CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY, First TEXT, Last TEXT, Organization TEXT); INSERT INTO ABPerson VALUES (1, 'Ada', 'Lovelace', NULL);");
    sqlite3(abDir, 'ab.db', 'PRAGMA wal_autocheckpoint=0;', "INSERT INTO ABPerson VALUES (2, 'Grace', 'Hopper', 'Navy');", '.system cp ab.db c.db && cp ab.db-wal c.db-wal');
    const file = (relativePath: string, content: Uint8Array): GeneratedFile => ({ domain: 'HomeDomain', relativePath, kind: 'file', content });
    const backup = await generateBackup({
      password,
      extra: [
        file('Library/SMS/sms.db', db),
        file('Library/SMS/sms.db-wal', wal),
        file('Library/AddressBook/AddressBook.sqlitedb', new Uint8Array(await readFile(join(abDir, 'c.db')))),
        file('Library/AddressBook/AddressBook.sqlitedb-wal', new Uint8Array(await readFile(join(abDir, 'c.db-wal')))),
      ],
    });
    cleanup.push(backup.dir);
    const reader = await openBackupFolder(backup.dir, password);
    try {
      const chats = await readChats(reader);
      assert.deepEqual(chats.map((c) => [c.displayName, c.messageCount]), [['Walrus club', 4]]);
      assert.deepEqual((await readMessages(reader, 1)).map((m) => m.text), ['first', 'second', 'third, only in the WAL', 'fourth, the newest']);
      assert.deepEqual((await readContacts(reader)).map((c) => c.displayName), ['Ada Lovelace', 'Grace Hopper']);
      const found = await searchContent(reader, 'newest');
      assert.deepEqual(found.messages.map((m) => [m.messageId, m.snippet, m.chatTitle]), [[4, 'fourth, the newest', 'Walrus club']]);
      assert.deepEqual((await searchContent(reader, 'hopper')).contacts.map((c) => c.name), ['Grace Hopper']);
    } finally {
      reader.close();
    }
  });
}

test('a backup whose -wal payload is garbage still opens its database, without an error', async () => {
  const { db } = await smsWithWal();
  const backup = await generateBackup({
    extra: [
      { domain: 'HomeDomain', relativePath: 'Library/SMS/sms.db', kind: 'file', content: db },
      { domain: 'HomeDomain', relativePath: 'Library/SMS/sms.db-wal', kind: 'file', content: new Uint8Array(9000).fill(0x5a) },
    ],
  });
  cleanup.push(backup.dir);
  const reader = await openBackupFolder(backup.dir);
  try {
    assert.deepEqual((await readMessages(reader, 1)).map((m) => m.text), ['first', 'second']);
  } finally {
    reader.close();
  }
});
