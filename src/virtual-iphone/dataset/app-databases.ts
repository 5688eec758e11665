import { encodeBinaryPlist } from '../../plist/index.ts';
import { encodeAttributedBody } from './attributed-body.ts';
import { Rng } from './prng.ts';
import { encodeNoteBody } from './note-body.ts';
import { HOSTILE_ATTACHMENTS, HOSTILE_MESSAGE_TEXT, HOSTILE_NOTE } from './hostile.ts';
import { PHOTO_HEIGHT, PHOTO_WIDTH } from './images.ts';
import { buildDatabase, type SqliteDatabase } from './sqlite.ts';

/** Seconds between the Unix epoch and Apple's reference date (2001-01-01). */
const APPLE_EPOCH = 978307200;
const NAMES = ['Anna', 'Ben', 'Chloé', 'David', 'Émile', 'Fatima', 'Georg', 'Hana', 'Ivan', 'Jürgen', 'Kenji', 'Lucía'];
const SURNAMES = ['Meyer', 'Okafor', 'Svensson', 'Nakamura', 'García', 'Dubois', 'Kowalski', 'Rossi'];
const PHRASES = [
  'See you at 7?',
  'On my way 🚲',
  'Can you send the photos from Saturday?',
  'Happy birthday! 🎉',
  'The meeting moved to Thursday.',
  'Grüße aus Berlin',
  'Thanks, got it.',
  'Call me when you land ✈️',
];

export interface SmsAttachment {
  /** Path under HomeDomain, e.g. Library/SMS/Attachments/0a/10/<GUID>/IMG_0001.jpeg */
  relativePath: string;
  photoVariant: number;
  /** The attachment's own bytes (hostile.ts); a photo of `photoVariant` when absent. */
  bytes?: Uint8Array;
}

/** Every SQLite database the dataset ships, as file images. */
export interface AppDatabases {
  smsDb: Uint8Array;
  smsAttachments: SmsAttachment[];
  addressBook: Uint8Array;
  noteStore: Uint8Array;
  callHistory: Uint8Array;
  safariHistory: Uint8Array;
  safariBookmarks: Uint8Array;
  photosSqlite: Uint8Array;
  cloudRecordings: Uint8Array;
  healthDb: Uint8Array;
  keychainPlist: Uint8Array;
}

function insertRows(db: SqliteDatabase, sql: string, rows: unknown[][]): void {
  const stmt = db.prepare(sql);
  try {
    for (const row of rows) {
      stmt.bind(row as never).stepReset();
    }
  } finally {
    stmt.finalize();
  }
}

function guid(rng: Rng): string {
  const hex = (n: number): string =>
    Array.from({ length: n }, () => '0123456789ABCDEF'[rng.int(16)]).join('');
  return `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
}

/** Apple-epoch nanoseconds, as Messages stores dates since iOS 11. */
function appleNanos(unixSeconds: number): bigint {
  return BigInt(unixSeconds - APPLE_EPOCH) * 1_000_000_000n;
}

async function smsDatabase(rng: Rng, baseTime: number, photoCount: number): Promise<{ bytes: Uint8Array; attachments: SmsAttachment[]; handles: string[] }> {
  const attachments: SmsAttachment[] = [];
  const handleIds: string[] = [];
  const bytes = await buildDatabase((db) => {
    db.exec(`
      CREATE TABLE _SqliteDatabaseProperties (key TEXT, value TEXT, UNIQUE(key));
      CREATE TABLE handle (ROWID INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE, id TEXT NOT NULL, country TEXT, service TEXT NOT NULL, uncanonicalized_id TEXT, person_centric_id TEXT, UNIQUE (id, service));
      CREATE TABLE chat (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, style INTEGER, state INTEGER, account_id TEXT, properties BLOB, chat_identifier TEXT, service_name TEXT, room_name TEXT, account_login TEXT, is_archived INTEGER DEFAULT 0, last_addressed_handle TEXT, display_name TEXT, group_id TEXT, is_filtered INTEGER DEFAULT 0, successful_query INTEGER);
      CREATE TABLE message (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, text TEXT, replace INTEGER DEFAULT 0, service_center TEXT, handle_id INTEGER DEFAULT 0, subject TEXT, country TEXT, attributedBody BLOB, version INTEGER DEFAULT 0, type INTEGER DEFAULT 0, service TEXT, account TEXT, account_guid TEXT, error INTEGER DEFAULT 0, date INTEGER, date_read INTEGER, date_delivered INTEGER, is_delivered INTEGER DEFAULT 0, is_finished INTEGER DEFAULT 0, is_from_me INTEGER DEFAULT 0, is_read INTEGER DEFAULT 0, is_sent INTEGER DEFAULT 0, cache_has_attachments INTEGER DEFAULT 0, cache_roomnames TEXT, item_type INTEGER DEFAULT 0, associated_message_guid TEXT, associated_message_type INTEGER DEFAULT 0, balloon_bundle_id TEXT, thread_originator_guid TEXT);
      CREATE TABLE attachment (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, created_date INTEGER DEFAULT 0, start_date INTEGER DEFAULT 0, filename TEXT, uti TEXT, mime_type TEXT, transfer_state INTEGER DEFAULT 0, is_outgoing INTEGER DEFAULT 0, user_info BLOB, transfer_name TEXT, total_bytes INTEGER DEFAULT 0, is_sticker INTEGER DEFAULT 0, hide_attachment INTEGER DEFAULT 0);
      CREATE TABLE chat_handle_join (chat_id INTEGER REFERENCES chat (ROWID) ON DELETE CASCADE, handle_id INTEGER REFERENCES handle (ROWID) ON DELETE CASCADE, UNIQUE(chat_id, handle_id));
      CREATE TABLE chat_message_join (chat_id INTEGER REFERENCES chat (ROWID) ON DELETE CASCADE, message_id INTEGER REFERENCES message (ROWID) ON DELETE CASCADE, message_date INTEGER DEFAULT 0, PRIMARY KEY (chat_id, message_id));
      CREATE TABLE message_attachment_join (message_id INTEGER REFERENCES message (ROWID) ON DELETE CASCADE, attachment_id INTEGER REFERENCES attachment (ROWID) ON DELETE CASCADE, UNIQUE(message_id, attachment_id));
      CREATE INDEX message_idx_handle ON message(handle_id, date);
      CREATE INDEX chat_message_join_idx_message_date_id_chat_id ON chat_message_join(chat_id, message_date, message_id);
      INSERT INTO _SqliteDatabaseProperties VALUES ('_ClientVersion', '17001');
    `);
    const handles = Array.from({ length: 5 }, (_, i) => [`+4915${String(1000000 + rng.int(8999999))}${i}`, 'de', i % 2 ? 'SMS' : 'iMessage']);
    insertRows(db, 'INSERT INTO handle (id, country, service) VALUES (?, ?, ?)', handles);
    handleIds.push(...handles.map((h) => h[0]!));
    insertRows(
      db,
      'INSERT INTO chat (guid, style, state, chat_identifier, service_name, display_name) VALUES (?, 45, 3, ?, ?, ?)',
      handles.map((h) => [`${h[2]};-;${h[0]}`, h[0], h[2], '']),
    );
    insertRows(db, 'INSERT INTO chat_handle_join VALUES (?, ?)', handles.map((_, i) => [i + 1, i + 1]));
    let messageId = 0;
    let attachmentId = 0;
    for (let i = 0; i < 40; i++) {
      const handle = 1 + rng.int(handles.length);
      const when = baseTime + i * 3700 + rng.int(600);
      const fromMe = rng.chance(0.5) ? 1 : 0;
      const withPhoto = photoCount > 0 && i % 9 === 4;
      messageId++;
      const messageGuid = guid(rng);
      const phrase = withPhoto ? '\ufffc' : rng.pick(PHRASES);
      // As on iOS 16+: every message's text is archived in attributedBody, and on some only there
      // (text NULL); a few of those are long enough (> 127 bytes) for a multi-byte length.
      const archivedOnly = !withPhoto && i % 3 === 1;
      const said = archivedOnly && i % 12 === 7 ? PHRASES.join(' ') : phrase;
      insertRows(
        db,
        `INSERT INTO message (guid, text, attributedBody, handle_id, service, date, date_read, date_delivered, is_delivered, is_finished, is_from_me, is_read, is_sent, cache_has_attachments)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, 1, ?, ?)`,
        [[messageGuid, archivedOnly ? null : said, encodeAttributedBody(said), handle, handles[handle - 1]![2], appleNanos(when), appleNanos(when + 60), appleNanos(when + 2), fromMe, fromMe, withPhoto ? 1 : 0]],
      );
      insertRows(db, 'INSERT INTO chat_message_join VALUES (?, ?, ?)', [[handle, messageId, appleNanos(when)]]);
      if (withPhoto) {
        attachmentId++;
        const id = guid(rng);
        const name = `IMG_${String(4000 + attachmentId).padStart(4, '0')}.jpeg`;
        const bucket = (attachmentId * 37) % 256;
        const relativePath = `Library/SMS/Attachments/${bucket.toString(16).padStart(2, '0')}/${String(attachmentId % 16).padStart(2, '0')}/${id}/${name}`;
        attachments.push({ relativePath, photoVariant: attachmentId });
        insertRows(
          db,
          'INSERT INTO attachment (guid, created_date, filename, uti, mime_type, transfer_state, is_outgoing, transfer_name, total_bytes) VALUES (?, ?, ?, ?, ?, 5, ?, ?, 0)',
          [[id, when - APPLE_EPOCH, `~/${relativePath}`, 'public.jpeg', 'image/jpeg', fromMe, name]],
        );
        insertRows(db, 'INSERT INTO message_attachment_join VALUES (?, ?)', [[messageId, attachmentId]]);
      }
    }
    // Last, and without the rng, so every message above stays as it was: markup as message text,
    // with an SVG and an HTML page attached (see hostile.ts).
    messageId++;
    const when = baseTime + 40 * 3700;
    insertRows(
      db,
      `INSERT INTO message (guid, text, attributedBody, handle_id, service, date, date_read, date_delivered, is_delivered, is_finished, is_from_me, is_read, is_sent, cache_has_attachments)
       VALUES (?, ?, ?, 1, ?, ?, ?, ?, 1, 1, 0, 1, 0, 1)`,
      [['5A1E0000-0000-4000-8000-00000000B0A7', HOSTILE_MESSAGE_TEXT, encodeAttributedBody(HOSTILE_MESSAGE_TEXT), handles[0]![2], appleNanos(when), appleNanos(when + 60), appleNanos(when + 2)]],
    );
    insertRows(db, 'INSERT INTO chat_message_join VALUES (?, ?, ?)', [[1, messageId, appleNanos(when)]]);
    HOSTILE_ATTACHMENTS.forEach((a, i) => {
      attachmentId++;
      const id = `5A1E0000-0000-4000-8000-00000000A00${i}`;
      const relativePath = `Library/SMS/Attachments/ff/0${i}/${id}/${a.name}`;
      attachments.push({ relativePath, photoVariant: 0, bytes: a.bytes });
      insertRows(
        db,
        'INSERT INTO attachment (guid, created_date, filename, uti, mime_type, transfer_state, is_outgoing, transfer_name, total_bytes) VALUES (?, ?, ?, ?, ?, 5, 0, ?, ?)',
        [[id, when - APPLE_EPOCH, `~/${relativePath}`, a.uti, a.mimeType, a.name, a.bytes.length]],
      );
      insertRows(db, 'INSERT INTO message_attachment_join VALUES (?, ?)', [[messageId, attachmentId]]);
    });
  });
  return { bytes, attachments, handles: handleIds };
}

/** "+4915112345670" as a person types it into the address book: "0151 12345670" (the national form). */
function nationalForm(handle: string): string {
  return `0${handle.slice(3, 6)} ${handle.slice(6)}`;
}

/** The first contacts are the people the messages come from (`smsHandles`), their numbers written nationally. */
function addressBook(rng: Rng, smsHandles: readonly string[]): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`
      CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, First TEXT, Last TEXT, Middle TEXT, FirstPhonetic TEXT, MiddlePhonetic TEXT, LastPhonetic TEXT, Organization TEXT, Department TEXT, Note TEXT, Kind INTEGER, Birthday TEXT, JobTitle TEXT, Nickname TEXT, Prefix TEXT, Suffix TEXT, FirstSort TEXT, LastSort TEXT, CreationDate INTEGER, ModificationDate INTEGER, CompositeNameFallback TEXT, DisplayName TEXT);
      CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, property INTEGER, identifier INTEGER, label INTEGER, value TEXT, guid TEXT);
      CREATE TABLE ABMultiValueLabel (value TEXT, UNIQUE(value));
      CREATE TABLE ABMultiValueEntry (parent_id INTEGER, key INTEGER, value TEXT, UNIQUE(parent_id, key));
      CREATE TABLE ABMultiValueEntryKey (value TEXT, UNIQUE(value));
      INSERT INTO ABMultiValueLabel VALUES ('_$!<Mobile>!$_'), ('_$!<Home>!$_'), ('_$!<Work>!$_');
      INSERT INTO ABMultiValueEntryKey VALUES ('Street'), ('State'), ('ZIP'), ('City'), ('CountryCode'), ('Country');
    `);
    for (let i = 0; i < 24; i++) {
      const first = rng.pick(NAMES);
      const last = rng.pick(SURNAMES);
      insertRows(db, 'INSERT INTO ABPerson (First, Last, Organization, Kind, CreationDate, ModificationDate) VALUES (?, ?, ?, 0, ?, ?)', [
        [first, last, i % 5 === 0 ? 'Example GmbH' : null, 700000000 + i * 1000, 700000000 + i * 2000],
      ]);
      const generated = `+49 15${rng.range(10, 99)} ${rng.range(1000000, 9999999)}`; // drawn either way: later data stays as it was
      insertRows(db, 'INSERT INTO ABMultiValue (record_id, property, identifier, label, value) VALUES (?, 3, 0, 1, ?)', [
        [i + 1, i < smsHandles.length ? nationalForm(smsHandles[i]!) : generated],
      ]);
      insertRows(db, 'INSERT INTO ABMultiValue (record_id, property, identifier, label, value) VALUES (?, 4, 0, 2, ?)', [
        [i + 1, `${first.toLowerCase()}.${last.toLowerCase()}@example.com`],
      ]);
      // Every third contact has a home address, every sixth a work one too (picked by position, so
      // the generator's random sequence, and everything built after it, stays as it was).
      if (i % 3 === 0) insertAddress(db, i + 1, 2, ADDRESSES[(i / 3) % ADDRESSES.length]!);
      if (i % 6 === 0) insertAddress(db, i + 1, 3, ADDRESSES[(i / 3 + 2) % ADDRESSES.length]!);
    }
  });
}

/** Postal addresses with the characters vCard must escape (';' ',' and line breaks) and non-ASCII. */
type AddressParts = Record<'Street' | 'City' | 'ZIP' | 'Country' | 'CountryCode', string> & { State?: string };
const ADDRESSES: AddressParts[] = [
  { Street: 'Hauptstraße 12', City: 'Berlin', ZIP: '10115', Country: 'Deutschland', CountryCode: 'de' },
  { Street: 'Rue de Rivoli 5; Bât. B', City: 'Paris', ZIP: '75001', Country: 'France', CountryCode: 'fr' },
  { Street: '221B Baker Street\nFlat 2', City: 'London', ZIP: 'NW1 6XE', Country: 'United Kingdom', CountryCode: 'gb' },
  { Street: 'Calle Mayor 3, 2º izq.', City: 'Madrid', ZIP: '28013', Country: 'España', CountryCode: 'es' },
  { Street: '742 Evergreen Terrace', City: 'Springfield', State: 'IL', ZIP: '62701', Country: 'United States', CountryCode: 'us' },
];

/** An address as the iOS address book keeps it: an ABMultiValue row (property 5, no value) and one ABMultiValueEntry per part. */
function insertAddress(db: SqliteDatabase, recordId: number, label: number, address: AddressParts): void {
  insertRows(db, 'INSERT INTO ABMultiValue (record_id, property, identifier, label, value) VALUES (?, 5, 1, ?, NULL)', [[recordId, label]]);
  insertRows(
    db,
    'INSERT INTO ABMultiValueEntry (parent_id, key, value) VALUES ((SELECT max(UID) FROM ABMultiValue), (SELECT ROWID FROM ABMultiValueEntryKey WHERE value = ?), ?)',
    Object.entries(address).map(([key, value]) => [key, value]),
  );
}

function noteStore(rng: Rng): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`
      CREATE TABLE ZICCLOUDSYNCINGOBJECT (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZNOTEDATA INTEGER, ZFOLDER INTEGER, ZCREATIONDATE1 TIMESTAMP, ZMODIFICATIONDATE1 TIMESTAMP, ZTITLE1 VARCHAR, ZSNIPPET VARCHAR, ZIDENTIFIER VARCHAR, ZTITLE2 VARCHAR);
      CREATE TABLE ZICNOTEDATA (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZNOTE INTEGER, ZDATA BLOB);
      INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, Z_OPT, ZTITLE2, ZIDENTIFIER) VALUES (1, 15, 1, 'Notes', 'DefaultFolder-CloudKit');
    `);
    const titles = ['Shopping list', 'Packing for the trip', 'Ideas', 'Rezepte: Apfelstrudel', 'Books to read'];
    titles.forEach((title, i) => {
      const body = `${title}\n${PHRASES.slice(0, 2 + rng.int(5)).join('\n')}`;
      insertRows(db, 'INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, Z_OPT, ZNOTEDATA, ZFOLDER, ZCREATIONDATE1, ZMODIFICATIONDATE1, ZTITLE1, ZSNIPPET, ZIDENTIFIER) VALUES (?, 12, 1, ?, 1, ?, ?, ?, ?, ?)', [
        [i + 2, i + 1, 700000000 + i * 86400, 700000000 + i * 90000, title, body.split('\n')[1] ?? '', guid(rng)],
      ]);
      insertRows(db, 'INSERT INTO ZICNOTEDATA VALUES (?, 11, 1, ?, ?)', [[i + 1, i + 2, encodeNoteBody(body)]]);
    });
    // Without the rng (the databases after this one stay as they were): links and markup in a note.
    const n = titles.length;
    insertRows(db, 'INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, Z_OPT, ZNOTEDATA, ZFOLDER, ZCREATIONDATE1, ZMODIFICATIONDATE1, ZTITLE1, ZSNIPPET, ZIDENTIFIER) VALUES (?, 12, 1, ?, 1, ?, ?, ?, ?, ?)', [
      [n + 2, n + 1, 700000000 + n * 86400, 700000000 + n * 90000, HOSTILE_NOTE.title, HOSTILE_NOTE.body.split('\n')[1] ?? '', '5A1E0000-0000-4000-8000-00000000C0DE'],
    ]);
    insertRows(db, 'INSERT INTO ZICNOTEDATA VALUES (?, 11, 1, ?, ?)', [[n + 1, n + 2, encodeNoteBody(HOSTILE_NOTE.body)]]);
  });
}

function callHistory(rng: Rng): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`CREATE TABLE ZCALLRECORD (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZANSWERED INTEGER, ZCALLTYPE INTEGER, ZDISCONNECTED_CAUSE INTEGER, ZFACE_TIME_DATA INTEGER, ZNUMBER_AVAILABILITY INTEGER, ZORIGINATED INTEGER, ZREAD INTEGER, ZDATE TIMESTAMP, ZDURATION FLOAT, ZADDRESS VARCHAR, ZNAME VARCHAR, ZSERVICE_PROVIDER VARCHAR, ZUNIQUE_ID VARCHAR, ZISO_COUNTRY_CODE VARCHAR)`);
    for (let i = 0; i < 30; i++) {
      insertRows(db, 'INSERT INTO ZCALLRECORD VALUES (?, 2, 1, ?, 1, 0, NULL, 0, ?, 1, ?, ?, ?, NULL, ?, ?, ?)', [
        [i + 1, rng.int(2), rng.int(2), 700000000 + i * 5000, rng.int(600), `+4930${rng.range(1000000, 9999999)}`, 'com.apple.Telephony', guid(rng), 'de'],
      ]);
    }
  });
}

function safariHistory(rng: Rng): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`
      CREATE TABLE history_items (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL UNIQUE, domain_expansion TEXT NULL, visit_count INTEGER NOT NULL, daily_visit_counts BLOB NOT NULL, weekly_visit_counts BLOB NULL, should_recompute_derived_visit_counts INTEGER NOT NULL, visit_count_score INTEGER NOT NULL);
      CREATE TABLE history_visits (id INTEGER PRIMARY KEY AUTOINCREMENT, history_item INTEGER NOT NULL REFERENCES history_items(id) ON DELETE CASCADE, visit_time REAL NOT NULL, title TEXT NULL, load_successful BOOLEAN NOT NULL DEFAULT 1, http_non_get BOOLEAN NOT NULL DEFAULT 0, synthesized BOOLEAN NOT NULL DEFAULT 0, redirect_source INTEGER NULL UNIQUE, redirect_destination INTEGER NULL UNIQUE, origin INTEGER NOT NULL DEFAULT 0, generation INTEGER NOT NULL DEFAULT 0, attributes INTEGER NOT NULL DEFAULT 0, score INTEGER NOT NULL DEFAULT 0);
    `);
    const sites = ['example.com', 'example.org', 'wikipedia.org', 'news.example.net', 'recipes.example.de'];
    sites.forEach((site, i) => {
      insertRows(db, 'INSERT INTO history_items (url, domain_expansion, visit_count, daily_visit_counts, should_recompute_derived_visit_counts, visit_count_score) VALUES (?, ?, ?, ?, 0, ?)', [
        [`https://${site}/`, site.split('.')[0], 3 + i, new Uint8Array([3 + i, 0, 0, 0]), 100 * (3 + i)],
      ]);
      for (let v = 0; v < 3 + i; v++) {
        insertRows(db, 'INSERT INTO history_visits (history_item, visit_time, title) VALUES (?, ?, ?)', [[i + 1, 700000000 + v * 3600 + rng.int(1000) + 0.25, `${site} — home`]]);
      }
    });
  });
}

function safariBookmarks(): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`
      CREATE TABLE bookmarks (id INTEGER PRIMARY KEY, special_id INTEGER DEFAULT 0, parent INTEGER, type INTEGER, title TEXT, url TEXT, num_children INTEGER DEFAULT 0, editable INTEGER DEFAULT 1, deletable INTEGER DEFAULT 1, hidden INTEGER DEFAULT 0, order_index INTEGER NOT NULL, external_uuid TEXT);
      INSERT INTO bookmarks VALUES (0, 0, NULL, 1, 'Root', '', 2, 0, 0, 0, 0, 'Root');
      INSERT INTO bookmarks VALUES (1, 1, 0, 1, 'BookmarksBar', '', 0, 0, 0, 0, 0, 'BookmarksBar');
      INSERT INTO bookmarks VALUES (2, 0, 0, 1, 'Favorites', '', 2, 1, 1, 0, 1, 'Favorites');
      INSERT INTO bookmarks VALUES (3, 0, 2, 0, 'Example', 'https://example.com/', 0, 1, 1, 0, 0, 'A1');
      INSERT INTO bookmarks VALUES (4, 0, 2, 0, 'Wikipedia', 'https://wikipedia.org/', 0, 1, 1, 0, 1, 'A2');
    `);
  });
}

function photosSqlite(photos: readonly string[], baseTime: number, size: PhotoSize): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZKIND INTEGER, ZHEIGHT INTEGER, ZWIDTH INTEGER, ZDATECREATED TIMESTAMP, ZMODIFICATIONDATE TIMESTAMP, ZDIRECTORY VARCHAR, ZFILENAME VARCHAR, ZUNIFORMTYPEIDENTIFIER VARCHAR, ZUUID VARCHAR, ZFAVORITE INTEGER, ZHIDDEN INTEGER)`);
    db.exec('BEGIN');
    // One prepared statement for every row: the huge profile has 100k photos.
    insertRows(
      db,
      'INSERT INTO ZASSET VALUES (?, 33, 1, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      photos.map((path, i) => {
        const slash = path.lastIndexOf('/');
        // Taken an hour before the file was last written (an edit); every 5th a favourite, every 11th hidden.
        const created = baseTime - APPLE_EPOCH + i * 600 - 3600;
        return [i + 1, size.height ?? PHOTO_HEIGHT, size.width ?? PHOTO_WIDTH, created, baseTime - APPLE_EPOCH + i * 600, path.slice('Media/'.length, slash), path.slice(slash + 1), 'public.jpeg', `PHOTO-${String(i + 1).padStart(6, '0')}`, i % 5 === 1 ? 1 : 0, i % 11 === 4 ? 1 : 0];
      }),
    );
    db.exec('COMMIT');
  });
}

function cloudRecordings(recordings: readonly string[]): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`CREATE TABLE ZCLOUDRECORDING (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZFLAGS INTEGER, ZDATE TIMESTAMP, ZDURATION FLOAT, ZCUSTOMLABEL VARCHAR, ZENCRYPTEDTITLE VARCHAR, ZPATH VARCHAR, ZUNIQUEID VARCHAR)`);
    recordings.forEach((path, i) => {
      insertRows(db, 'INSERT INTO ZCLOUDRECORDING VALUES (?, 2, 1, 0, ?, ?, ?, NULL, ?, ?)', [
        [i + 1, 700000000 + i * 7200, 12.5 + i, `Recording ${i + 1}`, path.split('/').pop(), `REC-${i + 1}`],
      ]);
    });
  });
}

function healthDb(rng: Rng): Promise<Uint8Array> {
  return buildDatabase((db) => {
    db.exec(`
      CREATE TABLE samples (data_id INTEGER PRIMARY KEY, start_date REAL, end_date REAL, data_type INTEGER);
      CREATE TABLE quantity_samples (data_id INTEGER PRIMARY KEY, quantity REAL, original_quantity REAL, original_unit INTEGER);
    `);
    for (let i = 0; i < 50; i++) {
      const start = 700000000 + i * 3600;
      insertRows(db, 'INSERT INTO samples VALUES (?, ?, ?, 7)', [[i + 1, start, start + 3600]]);
      const steps = 200 + rng.int(3000);
      insertRows(db, 'INSERT INTO quantity_samples VALUES (?, ?, ?, 1)', [[i + 1, steps, steps]]);
    }
  });
}

function keychainPlist(rng: Rng): Uint8Array {
  const secret = (): Uint8Array => Uint8Array.from({ length: 48 }, () => rng.int(256));
  return encodeBinaryPlist({
    genp: [
      { agrp: 'com.example.notes', svce: 'com.example.notes.token', acct: 'user@example.com', v_Data: secret(), pdmn: 'ak' },
      { agrp: 'apple', svce: 'AirPort', acct: 'Home Wi-Fi', v_Data: new TextEncoder().encode('correct horse battery'), pdmn: 'ck' },
    ],
    inet: [{ agrp: 'com.apple.cfnetwork', srvr: 'example.com', acct: 'anna', ptcl: 'htps', v_Data: secret(), pdmn: 'ak' }],
    cert: [],
    keys: [],
  });
}

const cache = new Map<string, Promise<AppDatabases>>();

/** The databases for a seed; built once (sqlite-wasm) and cached. */
/** Pixel size of the camera roll's pictures (default 320 × 240). */
export interface PhotoSize {
  width?: number | undefined;
  height?: number | undefined;
}

export function appDatabases(seed: number, photos: readonly string[], recordings: readonly string[], baseTime: number, photoSize: PhotoSize = {}): Promise<AppDatabases> {
  const key = `${seed}/${photos.length}/${recordings.length}/${baseTime}/${photoSize.width ?? ''}x${photoSize.height ?? ''}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = (async () => {
      const rng = new Rng(seed ^ 0x5eed);
      const sms = await smsDatabase(rng, baseTime, photos.length);
      return {
        smsDb: sms.bytes,
        smsAttachments: sms.attachments,
        addressBook: await addressBook(rng, sms.handles),
        noteStore: await noteStore(rng),
        callHistory: await callHistory(rng),
        safariHistory: await safariHistory(rng),
        safariBookmarks: await safariBookmarks(),
        photosSqlite: await photosSqlite(photos, baseTime, photoSize),
        cloudRecordings: await cloudRecordings(recordings),
        healthDb: await healthDb(rng),
        keychainPlist: keychainPlist(rng),
      };
    })();
    cache.set(key, pending);
  }
  return pending;
}
