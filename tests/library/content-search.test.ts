// Searching inside a backup's data (sms.db, AddressBook) the way the Search tab does as you type.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateBackup, makeDatabase, SMS_SCHEMA, type GeneratedBackup } from './backup-generator.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { searchContacts, searchContent, searchMessages, snippetAround } from '../../src/library/content-search.ts';
import { readContacts } from '../../src/library/categories/contacts.ts';
import type { BackupReader } from '../../src/library/backup-reader.ts';

const APPLE_EPOCH = 978307200;
const ns = (unix: number) => BigInt(unix - APPLE_EPOCH) * 1_000_000_000n;

const LONG = `${'Lorem ipsum dolor sit amet, '.repeat(6)}the needle is here ${'and then a long tail of words '.repeat(5)}`;

async function searchBackup(): Promise<GeneratedBackup> {
  const sms = await makeDatabase(
    `${SMS_SCHEMA}
     INSERT INTO handle VALUES (1, '+15551234567', 'iMessage'), (2, 'grace@example.com', 'iMessage'), (3, '+44 20 7946 0000', 'SMS');
     INSERT INTO chat VALUES (1, 'c1', '+15551234567', '', 'iMessage'), (2, 'c2', 'chat123', 'Book club', 'iMessage'), (3, 'c3', '+44 20 7946 0000', NULL, 'SMS');
     INSERT INTO chat_handle_join VALUES (1, 1), (2, 1), (2, 2), (3, 3);`,
    [
      ...[
        [1, 1, 'Lunch tomorrow?', 1, 0, 1700000000],
        [2, 1, 'Sure, lunch at noon', 0, 1, 1700000100],
        [3, 2, 'Chapter 3 of the book is 100% great', 2, 0, 1700000200],
        [4, 2, 'I read 1000 pages', 1, 0, 1700000300],
        [5, 2, 'file_name with an underscore', 2, 0, 1700000400],
        [6, 3, LONG, 3, 0, 1700000500],
        [7, 1, 'LUNCH again', 1, 0, 1700000600],
        [8, 3, 'Ünïcödé lunch ☕', 0, 1, 1700000700],
      ].flatMap(([id, chat, text, handle, fromMe, unix]) => [
        ['INSERT INTO message VALUES (?, ?, ?, ?, ?, ?, ?)', [id, `M${id}`, text, handle, 'iMessage', ns(unix as number), fromMe]] as [string, unknown[]],
        ['INSERT INTO chat_message_join VALUES (?, ?, 0)', [chat, id]] as [string, unknown[]],
      ]),
    ],
  );
  const addressBook = await makeDatabase(
    `CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY, First TEXT, Last TEXT, Middle TEXT, Organization TEXT, Note TEXT, Birthday TEXT, Nickname TEXT, JobTitle TEXT);
     CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, property INTEGER, identifier INTEGER, label INTEGER, value TEXT);
     INSERT INTO ABPerson VALUES (1, 'Ada', 'Lovelace', 'King', 'Analytical Engines', NULL, NULL, 'Countess', NULL);
     INSERT INTO ABPerson VALUES (2, 'Grace', 'Hopper', NULL, 'US Navy', NULL, NULL, NULL, NULL);
     INSERT INTO ABPerson VALUES (3, NULL, NULL, NULL, 'Acme 100% Corp', NULL, NULL, NULL, NULL);
     INSERT INTO ABPerson VALUES (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
     INSERT INTO ABMultiValue VALUES (1, 1, 3, 0, NULL, '+1 (555) 123-4567'), (2, 2, 4, 0, NULL, 'grace@example.com'),
       (3, 4, 3, 0, NULL, '+44 20 7946 0000'), (4, 1, 22, 0, NULL, 'https://ada.example/lunch');`,
  );
  const file = (relativePath: string, content: Uint8Array) => ({ domain: 'HomeDomain', relativePath, kind: 'file' as const, content });
  return generateBackup({ extra: [file('Library/SMS/sms.db', sms), file('Library/AddressBook/AddressBook.sqlitedb', addressBook)] });
}

let backupPromise: Promise<GeneratedBackup> | undefined;
const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

async function withReader(run: (reader: BackupReader) => Promise<void>): Promise<void> {
  const backup = await (backupPromise ??= searchBackup().then((b) => (cleanup.push(b.dir), b)));
  const reader = await openBackupFolder(backup.dir);
  try {
    await run(reader);
  } finally {
    reader.close();
  }
}

test('message text: case-insensitive, newest first, limited, with the conversation and sender', () =>
  withReader(async (reader) => {
    const { messages } = await searchMessages(reader, 'lunch');
    assert.deepEqual(
      messages.map((m) => [m.messageId, m.chatId, m.snippet, m.isFromMe, m.sender, m.chatTitle]),
      [
        [8, 3, 'Ünïcödé lunch ☕', true, undefined, '+44 20 7946 0000'],
        [7, 1, 'LUNCH again', false, '+15551234567', '+15551234567'],
        [2, 1, 'Sure, lunch at noon', true, undefined, '+15551234567'],
        [1, 1, 'Lunch tomorrow?', false, '+15551234567', '+15551234567'],
      ],
    );
    assert.equal(messages[0]!.date, new Date(1700000700 * 1000).toISOString());
    assert.deepEqual((await searchMessages(reader, 'lunch', 2)).messages.map((m) => m.messageId), [8, 7]);
  }));

test('LIKE wildcards in the query match themselves', () =>
  withReader(async (reader) => {
    assert.deepEqual((await searchMessages(reader, '100%')).messages.map((m) => m.messageId), [3]);
    assert.deepEqual((await searchMessages(reader, 'e_n')).messages.map((m) => m.messageId), [5]);
    assert.deepEqual((await searchMessages(reader, '%')).messages.map((m) => m.messageId), [3]);
    assert.deepEqual((await searchMessages(reader, '\\')).messages, []);
    assert.deepEqual((await searchContacts(reader, '100%')).map((c) => c.name), ['Acme 100% Corp']);
    assert.deepEqual(await searchContacts(reader, '_'), []);
  }));

test('conversations by display name and by participant handle, phone digits with any punctuation', () =>
  withReader(async (reader) => {
    const club = await searchMessages(reader, 'book club');
    assert.deepEqual(club.conversations.map((c) => [c.chatId, c.title, c.matched]), [[2, 'Book club', 'Book club']]);
    assert.equal(club.conversations[0]!.lastMessageDate, new Date(1700000400 * 1000).toISOString());
    const grace = await searchMessages(reader, 'grace@');
    assert.deepEqual(grace.conversations.map((c) => [c.chatId, c.matched]), [[2, 'grace@example.com']]);
    // "555 123" is the same number as +15551234567: chat 1 (newest message) and the group chat 2.
    const phone = await searchMessages(reader, '(555) 123');
    assert.deepEqual(phone.conversations.map((c) => [c.chatId, c.title]), [[1, '+15551234567'], [2, 'Book club']]);
    assert.deepEqual((await searchMessages(reader, '2079460')).conversations.map((c) => c.chatId), [3]);
  }));

test('contacts by name, nickname, organisation, phone and email; the row says what matched', () =>
  withReader(async (reader) => {
    const hit = async (q: string) => (await searchContacts(reader, q)).map((c) => [c.contactId, c.name, c.matched]);
    assert.deepEqual(await hit('ada'), [[1, 'Ada Lovelace', undefined]]);
    assert.deepEqual(await hit('ada lovelace'), [[1, 'Ada Lovelace', undefined]]);
    assert.deepEqual(await hit('ada king lovelace'), [[1, 'Ada Lovelace', undefined]]);
    assert.deepEqual(await hit('countess'), [[1, 'Ada Lovelace', 'Countess']]);
    assert.deepEqual(await hit('navy'), [[2, 'Grace Hopper', 'US Navy']]);
    assert.deepEqual(await hit('5551234567'), [[1, 'Ada Lovelace', '+1 (555) 123-4567']]);
    assert.deepEqual(await hit('example.com'), [[2, 'Grace Hopper', 'grace@example.com']]);
    // A contact with only a number is named by it, as the Contacts list shows it.
    assert.deepEqual(await hit('7946'), [[4, '+44 20 7946 0000', undefined]]);
    // URLs are not searched: "lunch" is only in Ada's web address.
    assert.deepEqual(await hit('lunch'), []);
    const contacts = await readContacts(reader);
    for (const c of await searchContacts(reader, 'a')) assert.equal(c.name, contacts.find((x) => x.id === c.contactId)!.displayName);
  }));

test('searchContent: everything at once; empty and whitespace queries find nothing', () =>
  withReader(async (reader) => {
    const all = await searchContent(reader, 'grace');
    assert.deepEqual(all.contacts.map((c) => c.name), ['Grace Hopper']);
    assert.deepEqual(all.conversations.map((c) => c.chatId), [2]);
    assert.deepEqual(all.messages, []);
    assert.deepEqual(await searchContent(reader, '   '), { messages: [], conversations: [], contacts: [] });
  }));

test('a long message is cut to the text around the match', () =>
  withReader(async (reader) => {
    const [hit] = (await searchMessages(reader, 'needle')).messages;
    assert.ok(hit);
    assert.ok(hit.snippet.length <= 92, hit.snippet);
    assert.match(hit.snippet, /^….*the needle is here.*…$/);
    assert.equal(snippetAround('short text', 'text'), 'short text');
    assert.equal(snippetAround('a\n\nb   c', 'b'), 'a b c');
  }));

test('a damaged backup (payloads missing) says so; databases without the tables find nothing', async () => {
  const missing = await generateBackup({ omitPayloads: ['Library/SMS/sms.db', 'Library/AddressBook/AddressBook.sqlitedb'] });
  cleanup.push(missing.dir);
  const reader = await openBackupFolder(missing.dir);
  try {
    await assert.rejects(searchContent(reader, 'x'), /missing the file/);
  } finally {
    reader.close();
  }
  const other = await makeDatabase('CREATE TABLE unrelated (x TEXT); INSERT INTO unrelated VALUES (1);');
  const file = (relativePath: string) => ({ domain: 'HomeDomain', relativePath, kind: 'file' as const, content: other });
  const bare = await generateBackup({ extra: [file('Library/SMS/sms.db'), file('Library/AddressBook/AddressBook.sqlitedb')] });
  cleanup.push(bare.dir);
  const reader2 = await openBackupFolder(bare.dir);
  try {
    assert.deepEqual(await searchContent(reader2, 'x'), { messages: [], conversations: [], contacts: [] });
  } finally {
    reader2.close();
  }
});
