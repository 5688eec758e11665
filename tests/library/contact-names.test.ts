import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateBackup, makeDatabase, SMS_SCHEMA } from './backup-generator.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { ContactDirectory, phoneKey, samePhone } from '../../src/library/categories/contact-names.ts';
import type { Contact } from '../../src/library/categories/contacts.ts';
import { readChats, readMessages } from '../../src/library/categories/messages.ts';
import { readCalls } from '../../src/library/categories/calls.ts';
import { searchContent } from '../../src/library/content-search.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

function person(id: number, firstName: string | undefined, lastName: string | undefined, phones: string[], emails: string[] = [], organization?: string): Contact {
  return {
    id, firstName, lastName, middleName: undefined, prefix: undefined, suffix: undefined, nickname: undefined, organization, jobTitle: undefined,
    note: undefined, birthday: undefined, phones: phones.map((value) => ({ label: 'Mobile', value })), emails: emails.map((value) => ({ label: 'Home', value })),
    urls: [], addresses: [], displayName: [firstName, lastName].filter(Boolean).join(' ') || organization || phones[0] || 'No name',
  };
}

test('phone numbers match in national and international forms, with any punctuation', () => {
  const same = (a: string, b: string) => samePhone(phoneKey(a)!, phoneKey(b)!);
  assert.ok(same('+49 151 1234 5670', '0151/1234-5670'));
  assert.ok(same('+4915112345670', '(0151) 12 34 56 70'));
  assert.ok(same('0049 151 12345670', '+49-151-12345670'));
  assert.ok(same('+1 (555) 123-4567', '555.123.4567'));
  assert.ok(same('+1 555 123 4567', '1 555 123 4567'));
  assert.ok(same('tel:+44 20 7946 0000', '020 7946 0000'));
  assert.ok(!same('+49 151 12345670', '+43 151 12345670'), 'another country');
  assert.ok(!same('+49 151 12345670', '0151 12345671'));
  assert.ok(!same('+1 555 123 4567', '234 567 0000'), 'a different number');
  assert.equal(phoneKey('12 34'), undefined, 'too short to tell anyone apart');
  assert.equal(phoneKey('anna@example.com'), undefined);
});

test('ContactDirectory: names for phone handles and emails (case-insensitive); unknown handles stay unnamed', () => {
  const directory = new ContactDirectory([
    person(1, 'Anna', 'Meyer', ['0151 1234 5670'], ['Anna.Meyer@Example.com']),
    person(2, undefined, undefined, ['+44 20 7946 0000'], [], 'Acme Ltd'),
    person(3, undefined, undefined, ['+1 555 000 1111']), // a number with no name names nobody
  ]);
  assert.equal(directory.nameFor('+4915112345670'), 'Anna Meyer');
  assert.equal(directory.nameFor('anna.meyer@example.COM'), 'Anna Meyer');
  assert.equal(directory.nameFor('mailto:ANNA.MEYER@example.com'), 'Anna Meyer');
  assert.equal(directory.nameFor('+442079460000'), 'Acme Ltd');
  assert.equal(directory.nameFor('+15550001111'), undefined);
  assert.equal(directory.nameFor('+4915112345679'), undefined);
  assert.equal(directory.nameFor(undefined), undefined);
  assert.deepEqual(directory.named('meyer').map((c) => c.id), [1]);
  assert.deepEqual(directory.named('ACME').map((c) => c.id), [2]);
});

test('conversations, messages, calls and search show contact names for matching handles', async () => {
  // Handles as sms.db stores them, the address book's numbers as people type them.
  const sms = await makeDatabase(
    `${SMS_SCHEMA}
     INSERT INTO handle VALUES (1, '+15551234567', 'iMessage'), (2, 'ADA@example.com', 'iMessage'), (3, '+442079460000', 'SMS'), (4, '+15559999999', 'SMS');
     INSERT INTO chat VALUES (1, 'iMessage;-;+15551234567', '+15551234567', '', 'iMessage'), (2, 'iMessage;-;ADA@example.com', 'ADA@example.com', '', 'iMessage'),
                             (3, 'SMS;-;+442079460000', '+442079460000', '', 'SMS'), (4, 'SMS;-;+15559999999', '+15559999999', '', 'SMS');
     INSERT INTO chat_handle_join VALUES (1, 1), (2, 2), (3, 3), (4, 4);
     INSERT INTO message VALUES (1, 'M1', 'Hello from the phone', 1, 'iMessage', 1, 0), (2, 'M2', 'Hello by mail', 2, 'iMessage', 2, 0),
                                (3, 'M3', 'Your order shipped', 3, 'SMS', 3, 0), (4, 'M4', 'Who is this?', 4, 'SMS', 4, 0);
     INSERT INTO chat_message_join VALUES (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4);`,
  );
  const backup = await generateBackup({ extra: [{ domain: 'HomeDomain', relativePath: 'Library/SMS/sms.db', kind: 'file', content: sms }] });
  cleanup.push(backup.dir);
  const reader = await openBackupFolder(backup.dir);
  try {
    const chats = await readChats(reader);
    assert.deepEqual(chats.map((c) => c.participantNames), [['Ada Lovelace'], ['Ada Lovelace'], ['Acme'], ['+15559999999']]);
    assert.deepEqual(chats.map((c) => c.participants), [['+15551234567'], ['ADA@example.com'], ['+442079460000'], ['+15559999999']]);
    assert.equal((await readMessages(reader, 1))[0]!.senderName, 'Ada Lovelace');
    assert.equal((await readMessages(reader, 4))[0]!.senderName, undefined);
    const calls = await readCalls(reader);
    assert.deepEqual(calls.map((c) => [c.address, c.contactName]), [['+15550000000', undefined], ['+15551234567', 'Ada Lovelace']]);

    // Search finds Ada's conversations by her name, though sms.db only knows her number and email.
    const found = await searchContent(reader, 'lovelace');
    assert.deepEqual(found.conversations.map((c) => [c.chatId, c.title, c.matched]).sort(), [[1, 'Ada Lovelace', 'Ada Lovelace'], [2, 'Ada Lovelace', 'Ada Lovelace']]);
    assert.deepEqual(found.contacts.map((c) => c.name), ['Ada Lovelace']);
    // A hit by handle is titled with the name too, and a message hit names its sender.
    const byNumber = await searchContent(reader, '555123');
    assert.deepEqual(byNumber.conversations.map((c) => c.title), ['Ada Lovelace']);
    const byText = await searchContent(reader, 'order shipped');
    assert.deepEqual(byText.messages.map((m) => [m.chatTitle, m.senderName]), [['Acme', 'Acme']]);
  } finally {
    reader.close();
  }
});
