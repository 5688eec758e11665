// Messages on iOS 16+ keep many texts only in message.attributedBody (an NSAttributedString archived as
// a "streamtyped" typedstream). The reader against blobs assembled here byte by byte, against the
// virtual iPhone's writer, against hostile bytes; and the conversation view and search over an sms.db holding them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { attributedBodyText } from '../../src/library/categories/attributed-body.ts';
import { readMessages } from '../../src/library/categories/messages.ts';
import { asciiLower, searchMessages } from '../../src/library/content-search.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { encodeAttributedBody } from '../../src/virtual-iphone/dataset/attributed-body.ts';
import { generateBackup, makeDatabase } from './backup-generator.ts';

const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');
/** A one-byte-length shared string: 84 <n> <bytes>. */
const newString = (s: string) => `84${s.length.toString(16).padStart(2, '0')}${ascii(s)}`;

/**
 * An attributedBody assembled from the format's description (streamer 4, signature, system version
 * 1000, "@" object with its class chain, "@" NSString object, "+" length + UTF-8, end of object),
 * independent of both the library's reader and the virtual iPhone's writer.
 */
function archive(text: string | Uint8Array, options: { root?: 'mutable' | 'plain'; bigEndian?: boolean; tail?: string } = {}): Uint8Array {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
  const n = bytes.length;
  const be = options.bigEndian === true;
  const u16 = (v: number) => (be ? [v >> 8, v & 0xff] : [v & 0xff, v >> 8]).map((b) => b.toString(16).padStart(2, '0')).join('');
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    if (be) b.writeUInt32BE(v);
    else b.writeUInt32LE(v);
    return b.toString('hex');
  };
  const length = n < 0x80 ? n.toString(16).padStart(2, '0') : n <= 0x7fff ? `81${u16(n)}` : `82${u32(n)}`;
  const header = `040b${ascii(be ? 'typedstream' : 'streamtyped')}81${u16(1000)}`;
  // Class references count objects and classes together: with the mutable root, NSObject is #3 (0x95);
  // with the plain root it is #2 (0x94). "@" is shared string #0 (0x92).
  const body =
    options.root === 'plain'
      ? `${newString('@')}8484${newString('NSAttributedString')}0084${newString('NSObject')}0085` + `928484${newString('NSString')}0194`
      : `${newString('@')}8484${newString('NSMutableAttributedString')}0084${newString('NSAttributedString')}0084${newString('NSObject')}0085` +
        `928484${newString('NSMutableString')}0184${newString('NSString')}0195`;
  return hex(`${header}${body}${newString('+')}${length}${bytes.toString('hex')}86${options.tail ?? `${newString('iI')}01${(n % 100).toString(16).padStart(2, '0')}8686`}`);
}

// The reader and the virtual iPhone's writer were checked once against public real-world blobs
// (imessage-exporter's test data: the writer's "Noter test" came out byte-identical); those blobs
// are not kept here because that project's licence is not ours. What stays: the writer's output
// has the structure assembled independently above, and both ends agree on any text.
test('the virtual iPhone writes the structure Messages writes', () => {
  const blob = encodeAttributedBody('Noter test');
  const built = archive('Noter test');
  // Same header, class chain and string object; only the attribute runs after it may differ.
  const stringEnd = Buffer.from(built).indexOf(Buffer.from('Noter test')) + 'Noter test'.length + 1;
  assert.deepEqual(blob.subarray(0, stringEnd), built.subarray(0, stringEnd));
  for (const text of ['', 'Grüße 🚲', 'x'.repeat(128), 'ü'.repeat(40_000), '𝖍𝖊𝖑𝖑𝖔 𝖜𝖔𝖗𝖑𝖉']) assert.equal(attributedBodyText(encodeAttributedBody(text)), text);
});

test('every length encoding, both roots, both byte orders, any text', () => {
  const texts = ['', 'a', 'x'.repeat(127), 'y'.repeat(128), 'Grüße aus Berlin 🎉', 'z'.repeat(0x7fff), 'w'.repeat(0x8000), '\ufffc photo', 'line 1\nline 2', '\ufeffkeeps its BOM', 'nul\u0000inside'];
  for (const text of texts) {
    for (const root of ['mutable', 'plain'] as const) {
      for (const bigEndian of [false, true]) assert.equal(attributedBodyText(archive(text, { root, bigEndian })), text, `${root} ${bigEndian} ${text.slice(0, 20)}`);
    }
  }
  // What follows the string object (the attribute runs) is not needed and not read.
  assert.equal(attributedBodyText(archive('hello', { tail: 'ff'.repeat(10) })), 'hello');
});

test('hostile or foreign blobs give null, never an exception', () => {
  const good = archive('Grüße aus Berlin');
  const stringEnd = Buffer.from(good).indexOf(Buffer.from('Berlin')) + 6; // the 0x86 closing the string object follows
  // Every truncation: null until the string object is complete.
  for (let cut = 0; cut < good.length; cut++) {
    const got = attributedBodyText(good.subarray(0, cut));
    if (cut <= stringEnd) assert.equal(got, null, `cut at ${cut}`);
    else assert.equal(got, 'Grüße aus Berlin', `cut at ${cut}`);
  }
  const patched = (at: number, bytes: number[]) => {
    const copy = good.slice();
    copy.set(bytes, at);
    return copy;
  };
  const plus = Buffer.from(good).indexOf(Buffer.from([0x84, 0x01, 0x2b]));
  assert.equal(attributedBodyText(patched(plus + 3, [0x7f])), null, 'length past the end');
  assert.equal(attributedBodyText(hex(`${Buffer.from(good.subarray(0, plus + 3)).toString('hex')}82ffffffff41`)), null, '4 GB length');
  assert.equal(attributedBodyText(patched(plus + 3, [0x83])), null, 'a reserved tag as the length');
  assert.equal(attributedBodyText(patched(plus + 3 + 1 + 2, [0xff])), null, 'not UTF-8');
  assert.equal(attributedBodyText(patched(0, [5])), null, 'another streamer version');
  assert.equal(attributedBodyText(patched(2, [...Buffer.from('streamtypeX')])), null, 'another signature');
  assert.equal(attributedBodyText(patched(stringEnd, [0x85])), null, 'no end of the string object');
  // Back-references that point nowhere, or at themselves.
  const objectRef = Buffer.from(good).indexOf(0x95);
  assert.equal(attributedBodyText(patched(objectRef, [0xf0])), null, 'class reference out of range');
  assert.equal(attributedBodyText(patched(objectRef, [0x92])), null, 'class reference to an object');
  const encodingRef = Buffer.from(good).indexOf(0x92, 20);
  assert.equal(attributedBodyText(patched(encodingRef, [0x93])), null, '"@" replaced by a class name');
  // Other archived classes.
  const renamed = (pairs: [string, string][]) => hex(pairs.reduce((h, [from, to]) => h.replace(ascii(from), ascii(to)), Buffer.from(good).toString('hex')));
  assert.equal(attributedBodyText(renamed([['NSMutableAttributedString', 'NSMutableDictionaryXXXXXX'], ['NSAttributedString', 'NSDictionaryXXXXXX']])), null);
  assert.equal(attributedBodyText(renamed([['NSMutableString', 'NSMutableNumber'], ['NSString', 'NSNumber']])), null);
  // An endless class chain is cut short; so is a string table that never ends.
  const chain = `040b${ascii('streamtyped')}81e803${newString('@')}84${Array.from({ length: 40 }, (_, i) => `84${newString(`C${i}`)}00`).join('')}85`;
  assert.equal(attributedBodyText(hex(chain)), null);
  // Not blobs at all.
  for (const value of [null, undefined, new Uint8Array(0), new Uint8Array(16), 'streamtyped' as unknown as Uint8Array]) assert.equal(attributedBodyText(value), null);
  // Random damage (a fixed-seed generator): a string or null, quickly, never a throw.
  let seed = 0x2545f491;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let round = 0; round < 5000; round++) {
    const copy = good.slice();
    for (let k = 0, n = 1 + (next() % 4); k < n; k++) copy[next() % copy.length] = next();
    const got = attributedBodyText(copy);
    assert.ok(got === null || typeof got === 'string');
  }
  for (let round = 0; round < 500; round++) {
    const noise = Uint8Array.from({ length: 64 + next() }, next);
    noise.set([4, 11, ...Buffer.from('streamtyped')], 0);
    attributedBodyText(noise);
  }
});

test('ASCII-only case folding, as SQLite LIKE and lower()', () => {
  assert.equal(asciiLower('ÄBC Straße ÉTÉ'), 'Äbc straße ÉtÉ');
});

// --- An sms.db with messages whose text lives only in attributedBody -------------------------------

const APPLE_EPOCH = 978307200;
const ns = (unix: number) => BigInt(unix - APPLE_EPOCH) * 1_000_000_000n;
const LONG = `${'A long archived message, '.repeat(8)}with the word Zeppelin near its end.`;

/** [id, chat, text, attributedBody, unix time] */
const MESSAGES: [number, number, string | null, Uint8Array | null, number][] = [
  [1, 1, 'Lunch tomorrow?', archive('Lunch tomorrow?'), 1700000000],
  [2, 1, null, archive('Sure, LUNCH at noon'), 1700000100],
  [3, 1, '', archive('Lunch moved to Friday'), 1700000200],
  [4, 2, null, archive(LONG), 1700000300],
  [5, 2, null, archive('Grüße, Straße'), 1700000400],
  // The needle is only in the class names and attribute keys, not in what the message says.
  [6, 2, null, archive('Nothing to see'), 1700000500],
  // Damaged: the bytes "lunch" are there, but the blob does not decode.
  [7, 1, null, archive('lunch, damaged').subarray(0, 130), 1700000600],
  [8, 1, null, hex(`ffff${ascii('lunch')}`), 1700000700],
  // Neither text nor a blob: a photo without a caption, say.
  [9, 2, null, null, 1700000800],
  // The text is what shows when both are there (the blob may be stale after an edit).
  [10, 2, 'Edited text', archive('Original text'), 1700000900],
];

async function smsBackup() {
  const sms = await makeDatabase(
    `CREATE TABLE handle (ROWID INTEGER PRIMARY KEY, id TEXT, service TEXT);
     CREATE TABLE chat (ROWID INTEGER PRIMARY KEY, guid TEXT, chat_identifier TEXT, display_name TEXT, service_name TEXT);
     CREATE TABLE message (ROWID INTEGER PRIMARY KEY, guid TEXT, text TEXT, attributedBody BLOB, handle_id INTEGER, service TEXT, date INTEGER, is_from_me INTEGER);
     CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER, message_date INTEGER);
     CREATE TABLE chat_handle_join (chat_id INTEGER, handle_id INTEGER);
     INSERT INTO handle VALUES (1, '+15551234567', 'iMessage'), (2, 'grace@example.com', 'iMessage');
     INSERT INTO chat VALUES (1, 'c1', '+15551234567', '', 'iMessage'), (2, 'c2', 'grace@example.com', '', 'iMessage');
     INSERT INTO chat_handle_join VALUES (1, 1), (2, 2);`,
    MESSAGES.flatMap(([id, chat, text, body, unix]) => [
      ['INSERT INTO message VALUES (?, ?, ?, ?, ?, ?, ?, 0)', [id, `M${id}`, text, body, chat, 'iMessage', ns(unix)]] as [string, unknown[]],
      ['INSERT INTO chat_message_join VALUES (?, ?, 0)', [chat, id]] as [string, unknown[]],
    ]),
  );
  return generateBackup({ extra: [{ domain: 'HomeDomain', relativePath: 'Library/SMS/sms.db', kind: 'file' as const, content: sms }] });
}

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

test('conversations show attributedBody-only messages; undecodable ones stay empty, the rest still reads', async () => {
  const backup = await smsBackup();
  cleanup.push(backup.dir);
  const reader = await openBackupFolder(backup.dir);
  try {
    assert.deepEqual(
      (await readMessages(reader, 1)).map((m) => [m.id, m.text]),
      [[1, 'Lunch tomorrow?'], [2, 'Sure, LUNCH at noon'], [3, 'Lunch moved to Friday'], [7, undefined], [8, undefined]],
    );
    assert.deepEqual(
      (await readMessages(reader, 2)).map((m) => [m.id, m.text]),
      [[4, LONG], [5, 'Grüße, Straße'], [6, 'Nothing to see'], [9, undefined], [10, 'Edited text']],
    );

    const ids = async (q: string, limit?: number) => (await searchMessages(reader, q, limit)).messages.map((m) => m.messageId);
    // Found in text and in blobs alike, newest first, case-insensitive; the damaged blobs are not hits.
    assert.deepEqual(await ids('lunch'), [3, 2, 1]);
    assert.deepEqual(await ids('LUNCH AT'), [2]);
    const [long] = (await searchMessages(reader, 'zeppelin')).messages;
    assert.equal(long?.messageId, 4);
    assert.match(long!.snippet, /^….*Zeppelin near its end\.$/);
    assert.equal(long!.chatTitle, 'grace@example.com');
    // Non-ASCII letters match exactly (LIKE folds ASCII only), in blobs as in text.
    assert.deepEqual(await ids('straße'), [5]);
    assert.deepEqual(await ids('STRASSE'), []);
    // Class names and attribute keys inside the blob are not the message.
    for (const q of ['NSString', 'NSMutableAttributedString', 'kIMMessagePart', 'NSDictionary', 'streamtyped']) assert.deepEqual(await ids(q), [], q);
    // The blob is not searched when the text is there: the text is what shows.
    assert.deepEqual(await ids('original'), []);
    assert.deepEqual(await ids('edited'), [10]);
    // The limit counts confirmed hits only: the damaged newer candidates (7, 8) leave no gap.
    assert.deepEqual(await ids('lunch', 1), [3]);
    assert.deepEqual(await ids('lunch', 2), [3, 2]);
    const hit = (await searchMessages(reader, 'noon')).messages[0]!;
    assert.deepEqual([hit.chatId, hit.snippet, hit.date], [1, 'Sure, LUNCH at noon', new Date(1700000100 * 1000).toISOString()]);
  } finally {
    reader.close();
  }
});

test('an sms.db without the attributedBody column (before iOS 11) still searches its text', async () => {
  const sms = await makeDatabase(
    `CREATE TABLE chat (ROWID INTEGER PRIMARY KEY, guid TEXT, chat_identifier TEXT, display_name TEXT, service_name TEXT);
     CREATE TABLE message (ROWID INTEGER PRIMARY KEY, guid TEXT, text TEXT, handle_id INTEGER, service TEXT, date INTEGER, is_from_me INTEGER);
     CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER, message_date INTEGER);
     INSERT INTO chat VALUES (1, 'c1', '+15551234567', '', 'SMS');
     INSERT INTO message VALUES (1, 'M1', 'old phone, old text', 0, 'SMS', 400000000, 1), (2, 'M2', NULL, 0, 'SMS', 400000001, 1);
     INSERT INTO chat_message_join VALUES (1, 1, 0), (1, 2, 0);`,
  );
  const backup = await generateBackup({ extra: [{ domain: 'HomeDomain', relativePath: 'Library/SMS/sms.db', kind: 'file' as const, content: sms }] });
  cleanup.push(backup.dir);
  const reader = await openBackupFolder(backup.dir);
  try {
    assert.deepEqual((await readMessages(reader, 1)).map((m) => m.text), ['old phone, old text', undefined]);
    assert.deepEqual((await searchMessages(reader, 'OLD')).messages.map((m) => m.messageId), [1]);
  } finally {
    reader.close();
  }
});
