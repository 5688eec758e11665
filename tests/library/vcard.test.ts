// One contact's vCard 3.0, made per contact (labels, escaping, folding, picture), and the
// all-contacts export as exactly the concatenation of those cards.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateBackup, makeDatabase, JPEG_BYTES } from './backup-generator.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { addressLines, readContacts } from '../../src/library/categories/contacts.ts';
import { readContactPhotos, imageTypeOf } from '../../src/library/categories/contact-photos.ts';
import { contactToVCard, contactsToVCard, escapeVCardText, foldVCardLine } from '../../src/library/export/vcard.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

const PNG_HEAD = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
const BIG_JPEG = new Uint8Array(3000).map((_, i) => (i < 2 ? [0xff, 0xd8][i]! : (i * 37) & 0xff));

/** Unfolds a vCard (RFC 2425 §5.8.1) and splits it into its content lines. */
function contentLines(card: string): string[] {
  assert.doesNotMatch(card.replace(/\r\n/g, ''), /[\r\n]/, 'only CRLF line ends');
  for (const line of card.split('\r\n')) assert.ok(new TextEncoder().encode(line).length <= 75, `folded: ${line}`);
  return card.replace(/\r\n /g, '').split('\r\n').filter(Boolean);
}

async function contactsBackup() {
  const addressBook = await makeDatabase(
    `CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY, First TEXT, Last TEXT, Middle TEXT, Prefix TEXT, Suffix TEXT, Organization TEXT, Note TEXT, Birthday TEXT, Nickname TEXT, JobTitle TEXT);
     CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, property INTEGER, identifier INTEGER, label INTEGER, value TEXT);
     CREATE TABLE ABMultiValueLabel (ROWID INTEGER PRIMARY KEY, value TEXT);
     INSERT INTO ABMultiValueLabel VALUES (1, '_$!<Mobile>!$_'), (2, '_$!<Work>!$_'), (3, 'Lab, bench; 2'), (4, '_$!<HomePage>!$_'), (5, 'iPhone');
     INSERT INTO ABPerson VALUES (1, 'Marie', 'Skłodowska-Curie', 'Salomea', 'Dr.', 'PhD', 'Sorbonne; Paris', 'Line one' || char(13) || char(10) || 'line two, with \\ backslash', '-2185574400', 'Manya', 'Physicist');
     INSERT INTO ABPerson VALUES (2, 'Pierre', 'Curie', NULL, NULL, NULL, NULL, '${'Ünïcödé '.repeat(20)}', NULL, NULL, NULL);
     INSERT INTO ABPerson VALUES (3, NULL, NULL, NULL, NULL, NULL, 'ESPCI', NULL, NULL, NULL, NULL);
     INSERT INTO ABMultiValue VALUES (1, 1, 3, 0, 1, '+33 1 23 45 67 89'), (2, 1, 3, 1, 3, '+33 9 87 65'), (3, 1, 4, 0, 2, 'marie@sorbonne.example'),
       (4, 1, 22, 0, 4, 'https://curie.example/'), (5, 2, 3, 0, 5, '+33 6 00 00 00 00'), (6, 3, 4, 0, NULL, 'info@espci.example');`,
  );
  const images = await makeDatabase(
    `CREATE TABLE ABThumbnailImage (ROWID INTEGER PRIMARY KEY, record_id INTEGER, format INTEGER, derived_from_format INTEGER, data BLOB);
     CREATE TABLE ABFullSizeImage (ROWID INTEGER PRIMARY KEY, record_id INTEGER, crop_x INTEGER, crop_y INTEGER, crop_width INTEGER, crop_height INTEGER, data BLOB);`,
    [
      ['INSERT INTO ABThumbnailImage VALUES (1, 1, 0, 0, ?)', [JPEG_BYTES]],
      ['INSERT INTO ABFullSizeImage VALUES (1, 1, 0, 0, 10, 10, ?)', [BIG_JPEG]],
      ['INSERT INTO ABThumbnailImage VALUES (2, 3, 0, 0, ?)', [PNG_HEAD]],
    ],
  );
  const file = (relativePath: string, content: Uint8Array) => ({ domain: 'HomeDomain', relativePath, kind: 'file' as const, content });
  const backup = await generateBackup({
    password: 'vcard',
    extra: [file('Library/AddressBook/AddressBook.sqlitedb', addressBook), file('Library/AddressBook/AddressBookImages.sqlitedb', images)],
  });
  cleanup.push(backup.dir);
  return backup;
}

test('one contact, one vCard: names, labels (built-in as TYPE, custom as item groups), escaping, birthday, full-size picture', async () => {
  const backup = await contactsBackup();
  const reader = await openBackupFolder(backup.dir, backup.password);
  try {
    const contacts = await readContacts(reader);
    const photos = await readContactPhotos(reader);
    assert.deepEqual([...photos.keys()].sort(), [1, 3]);
    assert.deepEqual(photos.get(1), BIG_JPEG, 'the full-size image wins over the thumbnail');
    assert.deepEqual(await readContactPhotos(reader, [3]), new Map([[3, PNG_HEAD]]));
    assert.deepEqual(await readContactPhotos(reader, []), new Map());

    const marie = contacts.find((c) => c.id === 1)!;
    const card = contactToVCard(marie, photos.get(1));
    const lines = contentLines(card);
    assert.deepEqual(lines.slice(0, 10), [
      'BEGIN:VCARD',
      'VERSION:3.0',
      'N:Skłodowska-Curie;Marie;Salomea;Dr.;PhD',
      'FN:Marie Skłodowska-Curie',
      'NICKNAME:Manya',
      'ORG:Sorbonne\\; Paris',
      'TITLE:Physicist',
      'TEL;TYPE=CELL:+33 1 23 45 67 89',
      'item1.TEL:+33 9 87 65',
      'item1.X-ABLabel:Lab\\, bench\\; 2',
    ]);
    assert.deepEqual(lines.slice(10, 14), [
      'EMAIL;TYPE=INTERNET,WORK:marie@sorbonne.example',
      'URL;TYPE=HOMEPAGE:https://curie.example/',
      'BDAY:1931-09-30',
      'NOTE:Line one\\nline two\\, with \\\\ backslash',
    ]);
    assert.equal(lines[14], `PHOTO;ENCODING=b;TYPE=JPEG:${Buffer.from(BIG_JPEG).toString('base64')}`);
    assert.equal(lines[15], 'END:VCARD');
    assert.equal(lines.length, 16);
    assert.ok(card.endsWith('END:VCARD\r\n'));

    const pierre = contentLines(contactToVCard(contacts.find((c) => c.id === 2)!));
    assert.ok(pierre.includes('TEL;TYPE=IPHONE,CELL:+33 6 00 00 00 00'));
    assert.ok(pierre.includes(`NOTE:${'Ünïcödé '.repeat(20)}`), 'a folded UTF-8 line unfolds to the same text');
    assert.ok(!pierre.some((l) => l.startsWith('PHOTO')));
    const espci = contentLines(contactToVCard(contacts.find((c) => c.id === 3)!, photos.get(3)));
    assert.ok(espci.includes('FN:ESPCI'));
    assert.ok(espci.includes('N:;;;;'));
    assert.ok(espci.includes(`PHOTO;ENCODING=b;TYPE=PNG:${Buffer.from(PNG_HEAD).toString('base64')}`));

    // Everything: the single cards, back to back, in list order.
    const all = contactsToVCard(contacts, photos);
    assert.equal(all, contacts.map((c) => contactToVCard(c, photos.get(c.id))).join(''));
    assert.equal(all.match(/BEGIN:VCARD/g)!.length, 3);
  } finally {
    reader.close();
  }
});

test('vCard helpers: escaping, folding, picture types', () => {
  assert.equal(escapeVCardText('a,b;c\\d\r\ne\rf\ng'), 'a\\,b\\;c\\\\d\\ne\\nf\\ng');
  const long = `PHOTO;ENCODING=b;TYPE=JPEG:${'A'.repeat(300)}`;
  const folded = foldVCardLine(long);
  assert.ok(folded.split('\r\n').every((l, i) => l.length <= 75 && (i === 0 || l.startsWith(' '))));
  assert.equal(folded.replace(/\r\n /g, ''), long);
  const emoji = `NOTE:${'📷'.repeat(40)}`;
  const foldedEmoji = foldVCardLine(emoji);
  assert.ok(foldedEmoji.split('\r\n').every((l) => new TextEncoder().encode(l).length <= 75));
  assert.equal(foldedEmoji.replace(/\r\n /g, ''), emoji);
  assert.equal(foldVCardLine('short'), 'short');
  assert.equal(imageTypeOf(JPEG_BYTES)?.vcardType, 'JPEG');
  assert.equal(imageTypeOf(PNG_HEAD)?.mimeType, 'image/png');
  assert.equal(imageTypeOf(new TextEncoder().encode('GIF89a...'))?.vcardType, 'GIF');
  assert.equal(imageTypeOf(new Uint8Array([0, 0, 0, 24, ...new TextEncoder().encode('ftypheic')]))?.vcardType, 'HEIC');
  assert.equal(imageTypeOf(new Uint8Array(16)), undefined);
  // An unknown picture format is left out rather than mislabelled.
  const c = { id: 9, firstName: 'X', lastName: undefined, middleName: undefined, prefix: undefined, suffix: undefined, nickname: undefined, organization: undefined,
    jobTitle: undefined, note: undefined, birthday: undefined, phones: [], emails: [], urls: [], addresses: [], displayName: 'X' };
  assert.doesNotMatch(contactToVCard(c, new Uint8Array(16)), /PHOTO/);
});

test('postal addresses: read from ABMultiValueEntry parts, written as ADR with every part escaped on its own', async () => {
  const addressBook = await makeDatabase(
    `CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY, First TEXT, Last TEXT);
     CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, property INTEGER, identifier INTEGER, label INTEGER, value TEXT);
     CREATE TABLE ABMultiValueLabel (ROWID INTEGER PRIMARY KEY, value TEXT);
     CREATE TABLE ABMultiValueEntry (parent_id INTEGER, key INTEGER, value TEXT, UNIQUE(parent_id, key));
     CREATE TABLE ABMultiValueEntryKey (ROWID INTEGER PRIMARY KEY, value TEXT);
     INSERT INTO ABMultiValueLabel VALUES (1, '_$!<Home>!$_'), (2, '_$!<Work>!$_'), (3, 'Summer; house');
     INSERT INTO ABMultiValueEntryKey VALUES (1, 'Street'), (2, 'City'), (3, 'State'), (4, 'ZIP'), (5, 'Country'), (6, 'CountryCode'), (7, 'SubLocality');
     INSERT INTO ABPerson VALUES (1, 'Marie', 'Curie'), (2, 'Pierre', 'Curie');
     INSERT INTO ABMultiValue VALUES (1, 1, 3, 0, 1, '+33 1'),
       (2, 1, 5, 0, 1, NULL), (3, 1, 5, 1, 2, NULL), (4, 1, 5, 2, 3, NULL), (5, 1, 5, 3, NULL, NULL), (6, 2, 5, 0, 1, NULL);
     INSERT INTO ABMultiValueEntry VALUES
       (2, 1, '36 Quai de Béthune; 2e étage' || char(10) || 'Porte B, à gauche'), (2, 2, 'Paris'), (2, 4, '75004'), (2, 5, 'France'), (2, 6, 'fr'),
       (3, 1, '1 Rue Pierre et Marie Curie'), (3, 2, 'Paris'), (3, 3, 'Île-de-France'), (3, 4, '75005'),
       (4, 1, 'C:\\Plage'), (4, 2, 'L''Arcouest'), (4, 7, 'Ploubazlanec'),
       (6, 3, 'Nowhere');`,
    // UID 5 has no parts at all: an empty slot, not an address.
  );
  const backup = await generateBackup({ extra: [{ domain: 'HomeDomain', relativePath: 'Library/AddressBook/AddressBook.sqlitedb', kind: 'file' as const, content: addressBook }] });
  cleanup.push(backup.dir);
  const reader = await openBackupFolder(backup.dir);
  try {
    const [marie, pierre] = await readContacts(reader);
    const none = { street: undefined, city: undefined, state: undefined, postalCode: undefined, country: undefined, countryCode: undefined };
    assert.deepEqual(marie!.addresses, [
      { ...none, label: 'Home', street: '36 Quai de Béthune; 2e étage\nPorte B, à gauche', city: 'Paris', postalCode: '75004', country: 'France', countryCode: 'fr' },
      { ...none, label: 'Work', street: '1 Rue Pierre et Marie Curie', city: 'Paris', state: 'Île-de-France', postalCode: '75005' },
      { ...none, label: 'Summer; house', street: 'C:\\Plage', city: "L'Arcouest" },
    ]);
    assert.deepEqual(marie!.phones.map((p) => p.value), ['+33 1'], 'addresses are not phones');
    assert.deepEqual(pierre!.addresses, [{ ...none, label: 'Home', state: 'Nowhere' }]);
    assert.deepEqual(addressLines(marie!.addresses[0]!), ['36 Quai de Béthune; 2e étage', 'Porte B, à gauche', '75004 Paris', 'France']);
    assert.deepEqual(addressLines(pierre!.addresses[0]!), ['Nowhere']);

    const lines = contentLines(contactToVCard(marie!));
    assert.deepEqual(
      lines.filter((l) => /ADR|X-ABLabel/.test(l)),
      [
        // RFC 2426 §3.2.1: PO box; extended; street; locality; region; code; country — ',' ';' '\' and line breaks escaped per part.
        'item1.ADR;TYPE=HOME:;;36 Quai de Béthune\\; 2e étage\\nPorte B\\, à gauche;Paris;;75004;France',
        'item1.X-ABADR:fr',
        'ADR;TYPE=WORK:;;1 Rue Pierre et Marie Curie;Paris;Île-de-France;75005;',
        'item2.ADR:;;C:\\\\Plage;L\'Arcouest;;;',
        'item2.X-ABLabel:Summer\\; house',
      ],
    );
    // Unescaped, each ADR has exactly seven parts, whatever the street held.
    const adr = lines.find((l) => l.startsWith('item1.ADR'))!;
    assert.equal(adr.slice(adr.indexOf(':') + 1).split(/(?<!\\);/).length, 7);
    assert.deepEqual(contentLines(contactToVCard(pierre!)).filter((l) => l.includes('ADR')), ['ADR;TYPE=HOME:;;;;Nowhere;;']);
  } finally {
    reader.close();
  }
});
