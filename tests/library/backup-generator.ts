// Builds small but real-shaped backups for the library tests: plists, a Manifest.db of MBFile
// archives, category databases made with SQLite WASM, and (optionally) encryption done the way
// a device does it — keybag, AES-KW wrapped class/file keys, AES-256-CBC payloads — via WebCrypto.
import { createHash } from 'node:crypto';
import { mkdir, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archive, encodeBinaryPlist, encodeXmlPlist, type PlistDict, type PlistValue } from '../../src/plist/index.ts';
import { loadSqlite } from '../../src/library/sqlite.ts';
import { concatBytes as concat } from '../../src/core/bytes.ts';

const subtle = globalThis.crypto.subtle;
const APPLE_EPOCH = 978307200;

export interface GeneratedFile {
  domain: string;
  relativePath: string;
  kind: 'file' | 'directory' | 'symlink';
  content?: Uint8Array;
  target?: string;
  protectionClass?: number;
}

export interface GeneratedBackup {
  dir: string;
  password: string | undefined;
  files: GeneratedFile[];
}

export function fileIdOf(domain: string, relativePath: string): string {
  return createHash('sha1').update(`${domain}-${relativePath}`).digest('hex');
}

/** A database built with SQLite WASM and exported to bytes. */
export async function makeDatabase(sql: string, rows: [string, unknown[]][] = []): Promise<Uint8Array> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    db.exec(sql);
    for (const [statement, bind] of rows) db.exec({ sql: statement, bind: bind as never });
    return sqlite3.capi.sqlite3_js_db_export(db);
  } finally {
    db.close();
  }
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
function lenField(field: number, payload: Uint8Array): Uint8Array {
  return new Uint8Array([...varint((field << 3) | 2), ...varint(payload.length), ...payload]);
}
/** NoteStoreProto { 2: Document { 2: version, 3: Note { 2: note_text } } }, gzip'd like ZICNOTEDATA.ZDATA. */
export async function noteData(text: string): Promise<Uint8Array> {
  const note = lenField(2, new TextEncoder().encode(text));
  const document = new Uint8Array([0x10, 0x00, ...lenField(3, note)]);
  const proto = new Uint8Array([0x08, 0x00, ...lenField(2, document)]);
  const stream = new Blob([proto]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export const JPEG_BYTES = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xd9]);

/** sms.db's tables as far as the library reads them (iOS 16+ adds attributedBody to message). */
export const SMS_SCHEMA = `CREATE TABLE handle (ROWID INTEGER PRIMARY KEY, id TEXT, service TEXT);
     CREATE TABLE chat (ROWID INTEGER PRIMARY KEY, guid TEXT, chat_identifier TEXT, display_name TEXT, service_name TEXT);
     CREATE TABLE message (ROWID INTEGER PRIMARY KEY, guid TEXT, text TEXT, handle_id INTEGER, service TEXT, date INTEGER, is_from_me INTEGER);
     CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER, message_date INTEGER);
     CREATE TABLE chat_handle_join (chat_id INTEGER, handle_id INTEGER);
     CREATE TABLE attachment (ROWID INTEGER PRIMARY KEY, guid TEXT, filename TEXT, mime_type TEXT, transfer_name TEXT, total_bytes INTEGER);
     CREATE TABLE message_attachment_join (message_id INTEGER, attachment_id INTEGER);`;

/** The category databases and media every generated backup holds. */
export async function standardContents(): Promise<GeneratedFile[]> {
  const ns = (unix: number) => BigInt(unix - APPLE_EPOCH) * 1_000_000_000n;
  const sms = await makeDatabase(
    `${SMS_SCHEMA}
     INSERT INTO handle VALUES (1, '+15551234567', 'iMessage');
     INSERT INTO chat VALUES (1, 'iMessage;-;+15551234567', '+15551234567', '', 'iMessage');
     INSERT INTO chat_handle_join VALUES (1, 1);
     INSERT INTO attachment VALUES (1, 'A1', '~/Library/SMS/Attachments/ab/01/A1/IMG_0001.jpeg', 'image/jpeg', 'IMG_0001.jpeg', 22);
     INSERT INTO message_attachment_join VALUES (3, 1);`,
    [
      ['INSERT INTO message VALUES (1, ?, ?, 1, ?, ?, 0)', ['M1', 'Hi <there> & welcome', 'iMessage', ns(1700000000)]],
      ['INSERT INTO message VALUES (2, ?, ?, 0, ?, ?, 1)', ['M2', 'Thanks!', 'iMessage', ns(1700000060)]],
      ['INSERT INTO message VALUES (3, ?, NULL, 1, ?, ?, 0)', ['M3', 'iMessage', ns(1700000120)]],
      ['INSERT INTO chat_message_join VALUES (1, 1, 0), (1, 2, 0), (1, 3, 0)', []],
    ],
  );
  const addressBook = await makeDatabase(
    `CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY, First TEXT, Last TEXT, Middle TEXT, Organization TEXT, Note TEXT, Birthday TEXT, Nickname TEXT, JobTitle TEXT);
     CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, property INTEGER, identifier INTEGER, label INTEGER, value TEXT);
     CREATE TABLE ABMultiValueLabel (ROWID INTEGER PRIMARY KEY, value TEXT);
     INSERT INTO ABMultiValueLabel VALUES (1, '_$!<Mobile>!$_'), (2, '_$!<Home>!$_');
     INSERT INTO ABPerson VALUES (1, 'Ada', 'Lovelace', NULL, 'Analytical, Engines; Ltd', 'Line one
line two', NULL, NULL, NULL);
     INSERT INTO ABPerson VALUES (2, NULL, NULL, NULL, 'Acme', NULL, NULL, NULL, NULL);
     INSERT INTO ABMultiValue VALUES (1, 1, 3, 0, 1, '+1 555 123 4567'), (2, 1, 4, 1, 2, 'ada@example.com'), (3, 2, 3, 0, NULL, '+44 20 7946 0000');`,
  );
  const notes = await makeDatabase(
    `CREATE TABLE ZICCLOUDSYNCINGOBJECT (Z_PK INTEGER PRIMARY KEY, ZTITLE1 TEXT, ZNOTEDATA INTEGER, ZCREATIONDATE1 REAL, ZMODIFICATIONDATE1 REAL);
     CREATE TABLE ZICNOTEDATA (Z_PK INTEGER PRIMARY KEY, ZNOTE INTEGER, ZDATA BLOB);
     INSERT INTO ZICCLOUDSYNCINGOBJECT VALUES (10, 'Shopping', 1, 700000000, 700000100);`,
    [['INSERT INTO ZICNOTEDATA VALUES (1, 10, ?)', [await noteData('Shopping\nMilk, eggs — and bread')]]],
  );
  const calls = await makeDatabase(
    `CREATE TABLE ZCALLRECORD (Z_PK INTEGER PRIMARY KEY, ZADDRESS TEXT, ZNAME TEXT, ZDATE REAL, ZDURATION REAL, ZORIGINATED INTEGER, ZANSWERED INTEGER, ZCALLTYPE INTEGER);
     INSERT INTO ZCALLRECORD VALUES (1, '+15551234567', '', 700000000, 65.5, 1, 1, 1), (2, '+15550000000', 'Bob', 700000500, 0, 0, 0, 8);`,
  );
  const history = await makeDatabase(
    `CREATE TABLE history_items (id INTEGER PRIMARY KEY, url TEXT, domain_expansion TEXT, visit_count INTEGER);
     CREATE TABLE history_visits (id INTEGER PRIMARY KEY, history_item INTEGER, visit_time REAL, title TEXT);
     INSERT INTO history_items VALUES (1, 'https://example.com/', 'example', 2);
     INSERT INTO history_visits VALUES (1, 1, 700000000, 'Example'), (2, 1, 700000900, 'Example again');`,
  );
  const bookmarks = await makeDatabase(
    `CREATE TABLE bookmarks (id INTEGER PRIMARY KEY, parent INTEGER, type INTEGER, title TEXT, url TEXT, order_index INTEGER);
     INSERT INTO bookmarks VALUES (0, 0, 1, 'Root', NULL, 0), (1, 0, 1, 'Favorites', NULL, 0), (2, 1, 0, 'Lifeboat', 'https://lifeboat.example/', 0);`,
  );
  const text = (s: string) => new TextEncoder().encode(s);
  const dirs = (domain: string, ...paths: string[]): GeneratedFile[] => paths.map((relativePath) => ({ domain, relativePath, kind: 'directory' }));
  return [
    ...dirs('HomeDomain', '', 'Library', 'Library/SMS', 'Library/SMS/Attachments', 'Library/SMS/Attachments/ab', 'Library/SMS/Attachments/ab/01',
      'Library/SMS/Attachments/ab/01/A1', 'Library/AddressBook', 'Library/CallHistoryDB', 'Library/Safari'),
    { domain: 'HomeDomain', relativePath: 'Library/SMS/sms.db', kind: 'file', content: sms },
    { domain: 'HomeDomain', relativePath: 'Library/SMS/Attachments/ab/01/A1/IMG_0001.jpeg', kind: 'file', content: JPEG_BYTES },
    { domain: 'HomeDomain', relativePath: 'Library/AddressBook/AddressBook.sqlitedb', kind: 'file', content: addressBook },
    { domain: 'HomeDomain', relativePath: 'Library/CallHistoryDB/CallHistory.storedata', kind: 'file', content: calls },
    { domain: 'HomeDomain', relativePath: 'Library/Safari/History.db', kind: 'file', content: history },
    { domain: 'HomeDomain', relativePath: 'Library/Safari/Bookmarks.db', kind: 'file', content: bookmarks },
    { domain: 'HomeDomain', relativePath: 'Library/Preferences', kind: 'symlink', target: '/private/var/mobile/Library/Preferences' },
    ...dirs('AppDomainGroup-group.com.apple.notes', ''),
    { domain: 'AppDomainGroup-group.com.apple.notes', relativePath: 'NoteStore.sqlite', kind: 'file', content: notes },
    ...dirs('CameraRollDomain', '', 'Media', 'Media/DCIM', 'Media/DCIM/100APPLE'),
    { domain: 'CameraRollDomain', relativePath: 'Media/DCIM/100APPLE/IMG_0001.JPG', kind: 'file', content: JPEG_BYTES },
    { domain: 'CameraRollDomain', relativePath: 'Media/DCIM/100APPLE/IMG_0002.MOV', kind: 'file', content: text('not really a movie but 33 bytes!!') },
    ...dirs('MediaDomain', '', 'Media', 'Media/Recordings'),
    { domain: 'MediaDomain', relativePath: 'Media/Recordings/20231114 120000.m4a', kind: 'file', content: text('fake m4a audio') },
    ...dirs('AppDomain-com.example.app', '', 'Documents'),
    { domain: 'AppDomain-com.example.app', relativePath: 'Documents/hello.txt', kind: 'file', content: text('hello from the app\n') },
    // 48 bytes exactly: a whole number of blocks, so encryption adds a full padding block.
    { domain: 'AppDomain-com.example.app', relativePath: 'Documents/block.bin', kind: 'file', content: new Uint8Array(48).map((_, i) => i * 7) },
  ];
}

function mbFile(f: GeneratedFile, encryptionKey: Uint8Array | undefined, inode: number): PlistDict {
  const mode = f.kind === 'directory' ? 0o40755 : f.kind === 'symlink' ? 0o120755 : 0o100644;
  return archive(
    {
      $class: 'MBFile',
      Birth: 1700000000,
      GroupID: 501,
      LastModified: 1700000100,
      LastStatusChange: 1700000200,
      Mode: mode,
      InodeNumber: inode,
      ProtectionClass: f.kind === 'file' ? (f.protectionClass ?? 3) : 0,
      RelativePath: f.relativePath,
      Size: f.content?.length ?? 0,
      UserID: 501,
      Flags: 0,
      ...(encryptionKey ? { EncryptionKey: encryptionKey } : {}),
      ...(f.target ? { Target: f.target } : {}),
      ...(f.kind === 'file' ? { ExtendedAttributes: encodeBinaryPlist({ 'com.apple.test': new Uint8Array([1, 2, 3]) }) } : {}),
    },
    { inlineDataFields: ['Digest', 'ExtendedAttributes'] },
  );
}

// ---------- encryption, as the device does it ----------

function tlv(tag: string, value: Uint8Array | number): Uint8Array {
  const v = typeof value === 'number' ? new Uint8Array([(value >>> 24) & 255, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]) : value;
  const out = new Uint8Array(8 + v.length);
  out.set(new TextEncoder().encode(tag));
  new DataView(out.buffer).setUint32(4, v.length, false);
  out.set(v, 8);
  return out;
}
function random(n: number): Uint8Array<ArrayBuffer> {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

async function wrap(kek: Uint8Array, keyBytes: Uint8Array): Promise<Uint8Array> {
  const wrapping = await subtle.importKey('raw', new Uint8Array(kek), 'AES-KW', false, ['wrapKey']);
  const key = await subtle.importKey('raw', new Uint8Array(keyBytes), 'AES-CBC', true, ['encrypt']);
  return new Uint8Array(await subtle.wrapKey('raw', key, wrapping, 'AES-KW'));
}

async function encrypt(keyBytes: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
  const key = await subtle.importKey('raw', new Uint8Array(keyBytes), 'AES-CBC', false, ['encrypt']);
  return new Uint8Array(await subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, new Uint8Array(plain)));
}

async function pbkdf2(password: Uint8Array, salt: Uint8Array, iterations: number, hash: string): Promise<Uint8Array> {
  const key = await subtle.importKey('raw', new Uint8Array(password), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle.deriveBits({ name: 'PBKDF2', hash, salt: new Uint8Array(salt), iterations }, key, 256));
}

const withClass = (clas: number, wrapped: Uint8Array) => concat([new Uint8Array([clas, 0, 0, 0]), wrapped]);

export interface GenerateOptions {
  password?: string;
  /** Extra rows (e.g. many files for the bench); one at a standard row's domain/path replaces it. */
  extra?: GeneratedFile[];
  /** Rows whose payload is deliberately not written. */
  omitPayloads?: string[];
  dpic?: number;
  status?: PlistDict | null;
}

export async function generateBackup(options: GenerateOptions = {}): Promise<GeneratedBackup> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-backup-'));
  // An extra file at a standard file's place replaces it (a test's own sms.db, say).
  const extra = options.extra ?? [];
  const replaced = new Set(extra.map((f) => `${f.domain}\0${f.relativePath}`));
  const files = [...(await standardContents()).filter((f) => !replaced.has(`${f.domain}\0${f.relativePath}`)), ...extra];
  const password = options.password;
  const sqlite3 = await loadSqlite();

  let classKeys: Map<number, Uint8Array> | undefined;
  const manifestPlist: PlistDict = {
    Version: '10.0',
    SystemDomainsVersion: '24.0',
    Date: new Date('2024-05-01T10:00:00Z'),
    IsEncrypted: password !== undefined,
    WasPasscodeSet: true,
    Lockdown: { DeviceName: 'Test iPhone', ProductType: 'iPhone14,5', ProductVersion: '17.4', BuildVersion: '21E219', SerialNumber: 'F00TEST', UniqueDeviceID: '00008110-000TEST' },
    Applications: { 'com.example.app': { CFBundleIdentifier: 'com.example.app', CFBundleVersion: '1.2', ContainerContentClass: 'Data/Application', Path: '/var/containers/Bundle/Application/X/Example.app' } },
  };
  if (password !== undefined) {
    const salt = random(20);
    const dpsl = random(20);
    const iter = 10;
    const dpic = options.dpic ?? 1000;
    const k1 = await pbkdf2(new TextEncoder().encode(password), dpsl, dpic, 'SHA-256');
    const passcodeKey = await pbkdf2(k1, salt, iter, 'SHA-1');
    classKeys = new Map();
    const blocks: Uint8Array[] = [];
    for (let clas = 1; clas <= 11; clas++) {
      const key = random(32);
      classKeys.set(clas, key);
      blocks.push(tlv('UUID', random(16)), tlv('CLAS', clas), tlv('WRAP', 2), tlv('KTYP', 0), tlv('WPKY', await wrap(passcodeKey, key)));
    }
    manifestPlist['BackupKeyBag'] = concat([
      tlv('VERS', 5), tlv('TYPE', 1), tlv('UUID', random(16)), tlv('HMCK', random(40)), tlv('WRAP', 0), tlv('SALT', salt),
      tlv('ITER', iter), tlv('DPWT', 1), tlv('DPIC', dpic), tlv('DPSL', dpsl), ...blocks,
    ]);
  }

  const db = new sqlite3.oo1.DB(':memory:');
  db.exec(`CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
           CREATE INDEX FilesDomainIdx ON Files(domain); CREATE INDEX FilesRelativePathIdx ON Files(relativePath);
           CREATE INDEX FilesFlagsIdx ON Files(flags); CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);`);
  let inode = 1000;
  for (const f of files) {
    const fileID = fileIdOf(f.domain, f.relativePath);
    let payload = f.content;
    let encryptionKey: Uint8Array | undefined;
    if (f.kind === 'file' && classKeys && payload) {
      const clas = f.protectionClass ?? 3;
      const fileKey = random(32);
      encryptionKey = withClass(clas, await wrap(classKeys.get(clas)!, fileKey));
      payload = await encrypt(fileKey, payload);
    }
    db.exec({
      sql: 'INSERT INTO Files VALUES (?, ?, ?, ?, ?)',
      bind: [fileID, f.domain, f.relativePath, f.kind === 'file' ? 1 : f.kind === 'directory' ? 2 : 4, encodeBinaryPlist(mbFile(f, encryptionKey, inode++))],
    });
    if (f.kind === 'file' && payload && !options.omitPayloads?.includes(f.relativePath)) {
      await mkdir(join(dir, fileID.slice(0, 2)), { recursive: true });
      await writeFile(join(dir, fileID.slice(0, 2), fileID), payload);
    }
  }
  let manifestDb: Uint8Array = sqlite3.capi.sqlite3_js_db_export(db);
  db.close();
  manifestDb[18] = 2; // as devices write it: WAL mode in the header
  manifestDb[19] = 2;
  if (classKeys) {
    const manifestKey = random(32);
    manifestPlist['ManifestKey'] = withClass(4, await wrap(classKeys.get(4)!, manifestKey));
    manifestDb = await encrypt(manifestKey, manifestDb);
  }
  await writeFile(join(dir, 'Manifest.db'), manifestDb);
  await writeFile(join(dir, 'Manifest.plist'), encodeBinaryPlist(manifestPlist));
  const info: PlistValue = {
    'Device Name': 'Test iPhone', 'Display Name': 'Test iPhone', 'Product Type': 'iPhone14,5', 'Product Version': '17.4',
    'Build Version': '21E219', 'Serial Number': 'F00TEST', 'Unique Identifier': '00008110-000TEST', 'Target Identifier': '00008110-000TEST',
    'Last Backup Date': new Date('2024-05-01T10:00:00Z'), GUID: 'ABCDEF', 'iTunes Version': '12.13',
  };
  await writeFile(join(dir, 'Info.plist'), encodeXmlPlist(info));
  if (options.status !== null) {
    await writeFile(
      join(dir, 'Status.plist'),
      encodeBinaryPlist(options.status ?? { Version: '3.3', BackupState: 'new', SnapshotState: 'finished', IsFullBackup: true, Date: new Date('2024-05-01T10:05:00Z'), UUID: 'A-B-C' }),
    );
  }
  return { dir, password, files };
}
