import { gunzipSync } from 'node:zlib';
import { openDatabase, type Dataset, type TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';

/**
 * What the virtual iPhone put into its databases, read straight from the dataset's own file images
 * with plain SQL (not through the library), so interop tests can compare the library's categories
 * against the device's side of the story.
 */

export interface ExpectedChat {
  identifier: string;
  service: string;
  /** Message texts in date order (from `text`, or from `attributedBody` where `text` is NULL). */
  texts: string[];
  /** The texts that live only in attributedBody (text NULL), as iOS 16+ leaves some messages. */
  archivedOnly: string[];
  /** Attachment device paths ("~/Library/SMS/Attachments/…") in message order. */
  attachments: string[];
}

export interface ExpectedContact {
  first: string;
  last: string;
  organization: string | undefined;
  phone: string;
  email: string;
  /** Postal addresses as "label|street|city|state|zip|country|countryCode", in ABMultiValue order. */
  addresses: string[];
}

export interface ExpectedNote {
  title: string;
  body: string;
}

export interface ExpectedCall {
  address: string;
  duration: number;
  originated: boolean;
  answered: boolean;
}

export interface ExpectedCategories {
  chats: ExpectedChat[];
  messageCount: number;
  contacts: ExpectedContact[];
  notes: ExpectedNote[];
  calls: ExpectedCall[];
  historyUrls: Map<string, number>;
  historyVisits: number;
  bookmarks: { title: string; url: string }[];
  apps: { bundleId: string; version: string }[];
  /** Photos.sqlite facts by relativePath ("Media/DCIM/…"): Apple-epoch creation seconds, favourite, hidden. */
  photoFacts: Map<string, { created: number; favorite: boolean; hidden: boolean }>;
  /** CloudRecordings.db facts by file name. */
  recordingFacts: Map<string, { title: string; date: number; duration: number }>;
}

type Row = Record<string, unknown>;

async function rows(dataset: Dataset, domain: string, relativePath: string, sql: string): Promise<Row[]> {
  const entry = dataset.get(domain, relativePath);
  if (!entry?.content) throw new Error(`the dataset has no ${domain}/${relativePath}`);
  const db = await openDatabase(entry.content.read(0, entry.content.size));
  try {
    return db.selectObjects(sql) as Row[];
  } finally {
    db.close();
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : String(v ?? ''));
const num = (v: unknown): number => Number(v ?? 0);

export async function expectedCategories(dataset: Dataset): Promise<ExpectedCategories> {
  const chatRows = await rows(dataset, 'HomeDomain', 'Library/SMS/sms.db', 'SELECT ROWID AS id, chat_identifier, service_name FROM chat ORDER BY ROWID');
  const messageRows = await rows(
    dataset,
    'HomeDomain',
    'Library/SMS/sms.db',
    `SELECT cmj.chat_id AS chat, m.ROWID AS id, m.text AS text, m.attributedBody AS body, a.filename AS filename FROM message m
     JOIN chat_message_join cmj ON cmj.message_id = m.ROWID
     LEFT JOIN message_attachment_join maj ON maj.message_id = m.ROWID
     LEFT JOIN attachment a ON a.ROWID = maj.attachment_id
     ORDER BY m.date, m.ROWID`,
  );
  const chats = chatRows.map((c) => {
    const rowsOfChat = messageRows.filter((m) => num(m['chat']) === num(c['id']));
    // One row per attachment: a message with two attachments is one message.
    const mine = rowsOfChat.filter((m, i) => i === 0 || num(rowsOfChat[i - 1]!['id']) !== num(m['id']));
    return {
      identifier: str(c['chat_identifier']),
      service: str(c['service_name']),
      texts: mine.map((m) => (m['text'] == null ? archivedString(m['body'] as Uint8Array) : str(m['text']))),
      archivedOnly: mine.filter((m) => m['text'] == null).map((m) => archivedString(m['body'] as Uint8Array)),
      attachments: rowsOfChat.filter((m) => m['filename'] != null).map((m) => str(m['filename'])),
    };
  });

  const addressRows = await rows(
    dataset,
    'HomeDomain',
    'Library/AddressBook/AddressBook.sqlitedb',
    `SELECT mv.record_id AS person, replace(replace(l.value, '_$!<', ''), '>!$_', '') AS label,
            ${['Street', 'City', 'State', 'ZIP', 'Country', 'CountryCode']
              .map((k) => `(SELECT e.value FROM ABMultiValueEntry e JOIN ABMultiValueEntryKey k ON k.ROWID = e.key WHERE e.parent_id = mv.UID AND k.value = '${k}') AS ${k}`)
              .join(', ')}
     FROM ABMultiValue mv LEFT JOIN ABMultiValueLabel l ON l.ROWID = mv.label WHERE mv.property = 5 ORDER BY mv.UID`,
  );
  const addressesOf = (person: number) =>
    addressRows
      .filter((r) => num(r['person']) === person)
      .map((r) => ['label', 'Street', 'City', 'State', 'ZIP', 'Country', 'CountryCode'].map((k) => str(r[k])).join('|'));

  const contacts = (
    await rows(
      dataset,
      'HomeDomain',
      'Library/AddressBook/AddressBook.sqlitedb',
      `SELECT p.ROWID AS id, p.First, p.Last, p.Organization,
              (SELECT value FROM ABMultiValue WHERE record_id = p.ROWID AND property = 3) AS phone,
              (SELECT value FROM ABMultiValue WHERE record_id = p.ROWID AND property = 4) AS email
       FROM ABPerson p ORDER BY p.ROWID`,
    )
  ).map((r) => ({
    first: str(r['First']),
    last: str(r['Last']),
    organization: r['Organization'] == null ? undefined : str(r['Organization']),
    phone: str(r['phone']),
    email: str(r['email']),
    addresses: addressesOf(num(r['id'])),
  }));

  const notes = (
    await rows(
      dataset,
      'AppDomainGroup-group.com.apple.notes',
      'NoteStore.sqlite',
      'SELECT o.ZTITLE1 AS title, n.ZDATA AS data FROM ZICNOTEDATA n JOIN ZICCLOUDSYNCINGOBJECT o ON o.Z_PK = n.ZNOTE ORDER BY n.Z_PK',
    )
  ).map((r) => ({ title: str(r['title']), body: noteText(r['data'] as Uint8Array) }));

  const calls = (
    await rows(dataset, 'HomeDomain', 'Library/CallHistoryDB/CallHistory.storedata', 'SELECT ZADDRESS, ZDURATION, ZORIGINATED, ZANSWERED FROM ZCALLRECORD ORDER BY ZDATE DESC')
  ).map((r) => ({ address: str(r['ZADDRESS']), duration: num(r['ZDURATION']), originated: num(r['ZORIGINATED']) === 1, answered: num(r['ZANSWERED']) === 1 }));

  const history = await rows(
    dataset,
    'HomeDomain',
    'Library/Safari/History.db',
    'SELECT i.url AS url, count(v.id) AS visits FROM history_items i JOIN history_visits v ON v.history_item = i.id GROUP BY i.id',
  );
  const bookmarks = (await rows(dataset, 'HomeDomain', 'Library/Safari/Bookmarks.db', 'SELECT title, url FROM bookmarks WHERE type = 0 ORDER BY id')).map((r) => ({
    title: str(r['title']),
    url: str(r['url']),
  }));

  return {
    chats,
    messageCount: chats.reduce((n, c) => n + c.texts.length, 0),
    contacts,
    notes,
    calls,
    historyUrls: new Map(history.map((r) => [str(r['url']), num(r['visits'])])),
    historyVisits: history.reduce((n, r) => n + num(r['visits']), 0),
    bookmarks,
    apps: dataset.apps.map((a) => ({ bundleId: a.bundleId, version: a.version })),
    photoFacts: new Map(
      (await rows(dataset, 'CameraRollDomain', 'Media/PhotoData/Photos.sqlite', 'SELECT ZDIRECTORY, ZFILENAME, ZDATECREATED, ZFAVORITE, ZHIDDEN FROM ZASSET')).map((r) => [
        `Media/${str(r['ZDIRECTORY'])}/${str(r['ZFILENAME'])}`,
        { created: num(r['ZDATECREATED']), favorite: num(r['ZFAVORITE']) === 1, hidden: num(r['ZHIDDEN']) === 1 },
      ]),
    ),
    recordingFacts: new Map(
      (await rows(dataset, 'MediaDomain', 'Media/Recordings/CloudRecordings.db', 'SELECT ZPATH, ZCUSTOMLABEL, ZDATE, ZDURATION FROM ZCLOUDRECORDING')).map((r) => [
        str(r['ZPATH']),
        { title: str(r['ZCUSTOMLABEL']), date: num(r['ZDATE']), duration: num(r['ZDURATION']) },
      ]),
    ),
  };
}

/** Names of the direct children of `folder` in `domain`, as the truth lists them. */
export function truthChildren(truth: readonly TruthEntry[], domain: string, folder: string): string[] {
  const prefix = folder === '' ? '' : `${folder}/`;
  return truth
    .filter((e) => e.domain === domain && e.relativePath !== '' && e.relativePath.startsWith(prefix) && !e.relativePath.slice(prefix.length).includes('/'))
    .map((e) => e.relativePath.slice(prefix.length))
    .sort();
}

/**
 * The string in a message's attributedBody, read the way the first iMessage exporters did (not with
 * the library's typedstream reader): the bytes after the first "+" type encoding (84 01 2B), whose
 * length is one byte, or 0x81 + u16 / 0x82 + u32 little-endian.
 */
function archivedString(blob: Uint8Array): string {
  const bytes = Buffer.from(blob);
  const plus = bytes.indexOf(Buffer.from([0x84, 0x01, 0x2b]));
  if (plus < 0) throw new Error('attributedBody without a string');
  let at = plus + 3;
  const head = bytes[at++]!;
  const length = head === 0x81 ? bytes.readUInt16LE(at) : head === 0x82 ? bytes.readUInt32LE(at) : head;
  at += head === 0x81 ? 2 : head === 0x82 ? 4 : 0;
  return bytes.subarray(at, at + length).toString('utf8');
}

/** Independent reading of iOS's ZDATA: gunzip (node:zlib), then NoteStoreProto field 2 → 3 → 2. */
function noteText(zdata: Uint8Array): string {
  let message: Uint8Array = gunzipSync(zdata);
  for (const wanted of [2, 3, 2]) {
    let offset = 0;
    let found: Uint8Array | undefined;
    const readVarint = (): number => {
      let value = 0;
      let scale = 1;
      for (;;) {
        const b = message[offset++]!;
        value += (b & 0x7f) * scale;
        if (b < 0x80) return value;
        scale *= 128;
      }
    };
    while (offset < message.length && !found) {
      const key = readVarint();
      const wire = key & 7;
      if (wire === 0) readVarint();
      else if (wire === 2) {
        const length = readVarint();
        if (key >> 3 === wanted) found = message.subarray(offset, offset + length);
        offset += length;
      } else throw new Error(`unexpected wire type ${wire} in a note body`);
    }
    if (!found) throw new Error(`note body has no field ${wanted}`);
    message = found;
  }
  return new TextDecoder().decode(message);
}
