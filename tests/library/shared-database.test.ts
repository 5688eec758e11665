// BackupReader.sharedDatabase: read, decrypted and opened once for repeated queries; the least
// recently used is closed when a fourth is opened, and every one on close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateBackup } from './backup-generator.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';

test('shared databases: one instance per file, least recently used closed first, all closed with the reader', async () => {
  const backup = await generateBackup({ password: 'shared' });
  const reader = await openBackupFolder(backup.dir, backup.password);
  try {
    const open = (path: string) => reader.sharedDatabase('HomeDomain', path);
    const sms = await open('Library/SMS/sms.db');
    const contacts = await open('Library/AddressBook/AddressBook.sqlitedb');
    assert.ok(sms && contacts);
    assert.equal(await open('Library/SMS/sms.db'), sms, 'the same open database again');
    assert.equal(await open('Library/Nothing.db'), undefined, 'a file the backup does not hold');
    // Now sms.db is the most recently used of three; a fourth evicts the address book.
    const calls = await open('Library/CallHistoryDB/CallHistory.storedata');
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(contacts.pointer, undefined, 'the least recently used was closed');
    assert.notEqual(sms.pointer, undefined);
    assert.equal(sms.selectValue('SELECT count(*) FROM message'), 3);
    assert.notEqual(await open('Library/AddressBook/AddressBook.sqlitedb'), contacts, 'opened afresh after eviction');
    reader.close();
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(sms.pointer, undefined);
    assert.equal(calls!.pointer, undefined);
  } finally {
    reader.close();
    await rm(backup.dir, { recursive: true, force: true });
  }
});
