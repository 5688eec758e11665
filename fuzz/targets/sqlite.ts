import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptBackupError, LifeboatError } from '../../src/core/errors.ts';
import { loadSqlite, openDatabaseBytes } from '../../src/library/sqlite.ts';
import { SqliteFileScanner } from '../../src/library/sqlite-scan/sqlite-file-scanner.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { countMessages, readChats, readMessages } from '../../src/library/categories/messages.ts';
import { ManifestDb } from '../../src/library/manifest-db.ts';
import { decryptStream } from '../../src/library/crypto/aes-cbc.ts';
import { decryptingFileRead, nobleCbcDecrypt } from '../../src/library/crypto/decrypting-file-read.ts';
import type { FileRead } from '../../src/core/file-read.ts';
import { BackupEncryption } from '../../src/virtual-iphone/encryption/backup-encryption.ts';
import { applyWal } from '../../src/library/sqlite-wal.ts';
import { encodeAttributedBody } from '../../src/virtual-iphone/dataset/attributed-body.ts';
import { SMS_SCHEMA, fileIdOf, generateBackup } from '../../tests/library/backup-generator.ts';
import { Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { buildManifestDb, manifestRow, readManifestDb } from '../../src/virtual-iphone/services/mobilebackup2/manifest.ts';
import { MemorySource } from '../memory-source.ts';
import type { Rng } from '../rng.ts';
import { type FuzzTarget, joinParts, sizeClass, splitParts } from '../target.ts';

/** A broken invariant of a parser's output (not a rejection): always a finding. */
class InvariantBroken extends Error {}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const message = (id: number, text: string) =>
  `INSERT INTO message (ROWID, guid, text, handle_id, service, date, is_from_me) VALUES (${id}, 'M${id}', '${text}', 1, 'iMessage', ${720000000 + id * 60}000000000, ${id % 2}); INSERT INTO chat_message_join VALUES (1, ${id}, 0);`;

/**
 * sms.db (512-byte pages, so the seed stays small) checkpointed with two messages and two more
 * transactions only in its WAL, made by the real sqlite3 as a phone's live copy would be.
 */
let smsSeed: { db: Uint8Array; wal: Uint8Array } | undefined;
function smsWithWal(): { db: Uint8Array; wal: Uint8Array } {
  if (smsSeed) return smsSeed;
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-fuzz-wal-'));
  const sqlite3 = (...commands: string[]) => {
    const r = spawnSync('sqlite3', ['-batch', 'sms.db', ...commands], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
  };
  try {
    sqlite3(
      'PRAGMA page_size=512;',
      'PRAGMA journal_mode=WAL;',
      `${SMS_SCHEMA} INSERT INTO handle VALUES (1, '+15551234567', 'iMessage'); INSERT INTO chat VALUES (1, 'c1', '+15551234567', '', 'iMessage');
       INSERT INTO chat_handle_join VALUES (1, 1); ALTER TABLE message ADD COLUMN attributedBody BLOB; ${message(1, 'first')} ${message(2, 'second')}
       UPDATE message SET attributedBody = x'${hex(encodeAttributedBody('archived text'))}' WHERE ROWID = 2;`,
    );
    sqlite3(
      'PRAGMA wal_autocheckpoint=0;',
      `BEGIN; ${message(3, 'third, only in the WAL')} COMMIT;`,
      `BEGIN; ${message(4, 'fourth')} UPDATE chat SET display_name = 'Walrus club' WHERE ROWID = 1; COMMIT;`,
      '.system cp sms.db copy.db && cp sms.db-wal copy.db-wal',
    );
    smsSeed = { db: new Uint8Array(readFileSync(join(dir, 'copy.db'))), wal: new Uint8Array(readFileSync(join(dir, 'copy.db-wal'))) };
    return smsSeed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Structure-aware repair of a mutated WAL: frames take the header's salts again and every checksum
 * is recomputed, so a mutated page number, commit size or page body is believed, not discarded.
 */
function refreshWalChecksums(wal: Uint8Array, rng: Rng): Uint8Array {
  if (wal.length < 32) return wal;
  const out = wal.slice();
  const view = new DataView(out.buffer);
  const magic = view.getUint32(0);
  const littleEndian = magic !== 0x377f0683;
  const sum = (from: number, to: number, s: [number, number]): [number, number] => {
    let [s0, s1] = s;
    for (let i = from; i + 8 <= to; i += 8) {
      s0 = (s0 + view.getUint32(i, littleEndian) + s1) >>> 0;
      s1 = (s1 + view.getUint32(i + 4, littleEndian) + s0) >>> 0;
    }
    return [s0, s1];
  };
  let s = sum(0, 24, [0, 0]);
  view.setUint32(24, s[0]);
  view.setUint32(28, s[1]);
  const raw = view.getUint32(8);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return out;
  for (let at = 32; at + 24 + pageSize <= out.length; at += 24 + pageSize) {
    if (rng.chance(0.95)) {
      view.setUint32(at + 8, view.getUint32(16));
      view.setUint32(at + 12, view.getUint32(20));
    }
    s = sum(at, at + 8, s);
    s = sum(at + 24, at + 24 + pageSize, s);
    view.setUint32(at + 16, s[0]);
    view.setUint32(at + 20, s[1]);
  }
  return out;
}

function fixUpWalPart(input: Uint8Array, rng: Rng): Uint8Array {
  const [db, wal] = splitParts(input);
  return joinParts(db, refreshWalChecksums(wal, rng));
}

export const sqliteWal: FuzzTarget = {
  name: 'sqlite-wal',
  async seeds() {
    const { db, wal } = smsWithWal();
    return [joinParts(db, wal)];
  },
  fixUp: fixUpWalPart,
  run(input) {
    const [db, wal] = splitParts(input);
    const applied = applyWal(db, wal);
    if (applied.frames > 0 && applied.bytes.length === 0) throw new InvariantBroken('a WAL commit produced an empty database');
    return `frames ${Math.min(applied.frames, 64)} size ${sizeClass(applied.bytes.length)}`;
  },
  maxInput: 64 * 1024,
};

/** The generated backup, in memory, with sms.db and a -wal sibling whose payloads each execution replaces. */
const SMS_PATH = 'Library/SMS/sms.db';
let backupFiles: Promise<Map<string, Uint8Array>> | undefined;
function generatedBackup(): Promise<Map<string, Uint8Array>> {
  backupFiles ??= (async () => {
    const { db, wal } = smsWithWal();
    const b = await generateBackup({
      extra: [
        { domain: 'HomeDomain', relativePath: SMS_PATH, kind: 'file', content: db },
        { domain: 'HomeDomain', relativePath: `${SMS_PATH}-wal`, kind: 'file', content: wal },
      ],
    });
    try {
      return await MemorySource.load(b.dir);
    } finally {
      await rm(b.dir, { recursive: true, force: true });
    }
  })();
  return backupFiles;
}

const payloadPath = (domain: string, relativePath: string) => {
  const id = fileIdOf(domain, relativePath);
  return `${id.slice(0, 2)}/${id}`;
};

export const smsDb: FuzzTarget = {
  name: 'sms-db',
  async seeds() {
    const { db, wal } = smsWithWal();
    await generatedBackup(); // built once here, not inside the first execution's time
    return [joinParts(db, wal), joinParts(db, new Uint8Array(0))];
  },
  fixUp: fixUpWalPart,
  maxInput: 64 * 1024,
  // ~2.5 ms an execution (SQLite WASM opens Manifest.db and sms.db each time): 4,000 fit npm test's budget.
  quickExecutions: 4000,
  async run(input) {
    const [db, wal] = splitParts(input);
    const files = new Map(await generatedBackup());
    files.set(payloadPath('HomeDomain', SMS_PATH), db);
    files.set(payloadPath('HomeDomain', `${SMS_PATH}-wal`), wal);
    const reader = await BackupReader.open(new MemorySource(files));
    try {
      const chats = await readChats(reader);
      let messages = 0;
      for (const chat of chats.slice(0, 4)) messages += (await readMessages(reader, chat.id)).length;
      await countMessages(reader);
      return `chats ${Math.min(chats.length, 8)} messages ${sizeClass(messages)}`;
    } finally {
      reader.close();
    }
  },
  expected: (e) => e instanceof LifeboatError,
};

/** What the Library asks of a Manifest.db, however it was opened. */
async function exerciseManifest(open: Promise<ManifestDb>, indexAhead = false): Promise<string> {
  const db = await open;
  try {
    // The Library's worker builds the index first, pausing for WebCrypto to decrypt ahead where it can.
    if (indexAhead) await db.prepareIndexAsync();
    db.totals();
    const domains = db.domains();
    db.prepareIndex();
    for (const d of domains.slice(0, 3)) {
      for (const entry of db.list(d.domain, '').slice(0, 4)) {
        db.metadata(entry.fileID);
        db.find(entry.domain, entry.relativePath);
      }
    }
    db.search('sms');
    db.findUnder('HomeDomain', 'Library');
    return `domains ${Math.min(domains.length, 16)}`;
  } finally {
    db.close();
  }
}

export const manifestDb: FuzzTarget = {
  name: 'manifest-db',
  async seeds() {
    const manifest = (await generatedBackup()).get('Manifest.db');
    return manifest ? [manifest] : [];
  },
  maxInput: 128 * 1024,
  // ~0.7 ms an execution through SQLite WASM: 8,000 fit npm test's budget.
  quickExecutions: 8000,
  run: (input) => exerciseManifest(ManifestDb.open(input)),
};

/**
 * The same, read in place (sqlite-in-place.ts: the Library's way wherever the file can be read
 * synchronously): every page comes through the VFS's reads, so a file shorter than its header says,
 * or pages pointing past its end, reach it. The file must be closed exactly once, whatever happens.
 */
export const manifestDbInPlace: FuzzTarget = {
  name: 'manifest-db-in-place',
  seeds: manifestDb.seeds,
  maxInput: 128 * 1024,
  quickExecutions: 4000,
  async run(input) {
    const file = inputFile(input);
    try {
      return await exerciseManifest(ManifestDb.open({ inPlace: file }));
    } finally {
      if (file.closes !== 1) throw new InvariantBroken(`the file was closed ${file.closes} times`);
    }
  },
};

const MANIFEST_KEY_BYTES = new Uint8Array(32).fill(0x4d);
let webKey: Promise<CryptoKey> | undefined;
/** MANIFEST_KEY_BYTES imported once for WebCrypto. */
function manifestWebKey(): Promise<CryptoKey> {
  webKey ??= globalThis.crypto.subtle.importKey('raw', MANIFEST_KEY_BYTES, 'AES-CBC', false, ['encrypt', 'decrypt']);
  return webKey;
}

/**
 * An encrypted backup's Manifest.db as an unlock reads it: decrypted as it streams (AES-256-CBC, zero
 * IV, padding judged by its last byte) straight into SQLite's memory, whose size is only a bound.
 * Mutated ciphertext is garbage plaintext from the changed block on, a cut one a short or torn file.
 */
export const manifestDbEncrypted: FuzzTarget = {
  name: 'manifest-db-encrypted',
  async seeds() {
    const manifest = (await generatedBackup()).get('Manifest.db');
    return manifest ? [await BackupEncryption.encryptWhole(MANIFEST_KEY_BYTES, manifest)] : [];
  },
  maxInput: 128 * 1024,
  quickExecutions: 4000,
  async run(input) {
    const key = await manifestWebKey();
    const db = await ManifestDb.open({ size: input.length, chunks: decryptStream(key, pieces(input, 4096), 'Manifest.db'), upTo: true });
    try {
      const { fileCount } = db.totals();
      db.search('sms');
      return `files ${sizeClass(fileCount)}`;
    } finally {
      db.close();
    }
  },
};

/**
 * The same ciphertexts read in place, decrypted page by page as SQLite reads them (how the Library opens
 * a big encrypted Manifest.db), with the browser's JavaScript AES: a damaged file must be refused with a
 * typed error and closed once, never read past its end.
 */
export const manifestDbEncryptedInPlace: FuzzTarget = {
  name: 'manifest-db-encrypted-in-place',
  seeds: manifestDbEncrypted.seeds,
  maxInput: 128 * 1024,
  quickExecutions: 4000,
  async run(input) {
    const file = inputFile(input);
    // Half the inputs (by length) also go through the browser's read-ahead: WebCrypto decrypts windows
    // ahead of the index's scan and SQLite reads them from there.
    const ahead = input.byteLength % 2 === 0;
    let plain;
    try {
      plain = decryptingFileRead(file, MANIFEST_KEY_BYTES, 'Manifest.db', nobleCbcDecrypt, ahead ? await manifestWebKey() : undefined);
    } catch (error) {
      file.close();
      throw error;
    }
    try {
      return await exerciseManifest(ManifestDb.open({ inPlace: plain }), ahead);
    } finally {
      if (file.closes !== 1) throw new InvariantBroken(`the file was closed ${file.closes} times`);
    }
  },
};

/** `input` as a file read in place, counting its closes; a read outside it is a finding. */
function inputFile(input: Uint8Array): FileRead & { closes: number } {
  const file = {
    size: input.byteLength,
    closes: 0,
    read: (into: Uint8Array, at: number): number => {
      if (at < 0 || at > input.byteLength) throw new InvariantBroken(`read at ${at} of a ${input.byteLength}-byte file`);
      const n = Math.max(0, Math.min(into.byteLength, input.byteLength - at));
      into.set(input.subarray(at, at + n));
      return n;
    },
    close: () => void file.closes++,
  };
  return file;
}

async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, Math.min(bytes.length, at + size));
}

/** A Manifest.db of 512-byte pages: a two-level tree, overflow rows and an index, in under 64 KiB. */
async function smallPageManifest(): Promise<Uint8Array> {
  const sqlite3 = await loadSqlite();
  const db = new sqlite3.oo1.DB(':memory:');
  try {
    db.exec(`PRAGMA page_size=512; CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
      CREATE INDEX FilesDomainIdx ON Files(domain);
      WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 60)
      INSERT INTO Files SELECT printf('%040x', i * 7919), 'AppDomain-com.example.' || (i % 5), 'Library/d' || (i % 4) || '/f' || i, 1 + (i % 3 = 0), randomblob(CASE WHEN i % 20 = 0 THEN 900 ELSE 40 + i END) FROM k;`);
    return sqlite3.capi.sqlite3_js_db_export(db);
  } finally {
    db.close();
  }
}

/** Values as comparable text: bigint and unsafe integers alike, blobs as hex, -0 as 0. */
function comparable(rows: unknown[][]): string {
  return JSON.stringify(rows, (_k, v: unknown) =>
    typeof v === 'bigint' ? `big:${v}` : typeof v === 'number' ? (Number.isNaN(v) ? 'NaN' : Number.isInteger(v) && !Number.isSafeInteger(v) ? `big:${BigInt(v)}` : v === 0 ? 0 : v) : v instanceof Uint8Array ? `hex:${Buffer.from(v).toString('hex')}` : v,
  );
}

/**
 * The in-place scanner restores use on a 1.3M-file Manifest.db. Differential: whenever SQLite
 * itself also reads the mutated database, both must give the same rows, value for value.
 */
export const manifestScan: FuzzTarget = {
  name: 'manifest-scan',
  async seeds() {
    const manifest = (await generatedBackup()).get('Manifest.db');
    return [...(manifest ? [manifest] : []), await smallPageManifest()];
  },
  maxInput: 128 * 1024,
  quickExecutions: 4000,
  async run(input) {
    const reader = { size: input.length, read: async (start: number, end: number) => input.subarray(start, Math.min(end, input.length)) };
    const scanner = await SqliteFileScanner.open(reader, 'Manifest.db');
    const table = await scanner.table('Files');
    if (!table) throw new CorruptBackupError('Manifest.db has no Files table.');
    const ours: unknown[][] = [];
    for await (const row of scanner.rows(table.rootPage, table.shape.columns.length)) {
      if (table.shape.rowidColumn >= 0) row.values[table.shape.rowidColumn] = row.rowid;
      ours.push([row.rowid, ...row.values]);
    }
    let theirs: unknown[][] | undefined;
    try {
      const db = await openDatabaseBytes(input.slice(), 'Manifest.db');
      try {
        theirs = db.selectArrays('SELECT rowid, * FROM Files ORDER BY rowid') as unknown[][];
      } finally {
        db.close();
      }
    } catch {
      theirs = undefined; // SQLite refuses it: nothing to compare
    }
    if (theirs && comparable(theirs) !== comparable(ours)) throw new InvariantBroken(`the scan gave ${ours.length} rows, SQLite ${theirs.length}, and they differ`);
    return `rows ${sizeClass(ours.length)}${theirs ? ' agreed' : ''}`;
  },
};

/** A Manifest.db as the simulated phone writes one (MBFile blobs, every fifth file keyed), small enough to mutate. */
async function phoneManifest(): Promise<Uint8Array> {
  const dataset = await Dataset.create({ size: 'small', seed: 21 });
  const rows = dataset.entries(true).slice(0, 60).map((entry, i) => manifestRow(entry, entry.kind === 'file' && i % 5 === 0 ? new Uint8Array(44).fill(i) : undefined));
  return buildManifestDb(rows);
}

/**
 * The simulated phone reading a host's previous Manifest.db back for an incremental backup
 * (readManifestDb, with SQLite and with the in-place scanner): it must give rows or null (a full
 * backup instead), never throw, and its rows (ReadRows: fileIDs of any shape in an open-addressing
 * table) must find each fileID at its own row. Both readers, when both read it, give the same rows.
 */
export const devicePreviousManifest: FuzzTarget = {
  name: 'device-previous-manifest',
  async seeds() {
    const manifest = (await generatedBackup()).get('Manifest.db');
    return [await phoneManifest(), ...(manifest ? [manifest] : []), await smallPageManifest()];
  },
  maxInput: 128 * 1024,
  quickExecutions: 4000,
  expected: () => false,
  async run(input) {
    const bySqlite = await readManifestDb(input.slice());
    const inPlace = await readManifestDb(input, 0);
    for (const rows of [bySqlite, inPlace]) {
      if (!rows) continue;
      const ids = new Set<string>();
      for (let ref = 0; ref < rows.count; ref++) {
        const fileId = rows.fileId(ref);
        if (rows.refOf(fileId) !== ref) throw new InvariantBroken(`fileID ${JSON.stringify(fileId)} is row ${ref} but is found at ${rows.refOf(fileId)}`);
        ids.add(fileId);
      }
      if (ids.size !== rows.count) throw new InvariantBroken(`${rows.count} rows but ${ids.size} fileIDs`);
    }
    if (bySqlite && inPlace && comparable([...bySqlite].map(([, row]) => Object.values(row))) !== comparable([...inPlace].map(([, row]) => Object.values(row)))) {
      throw new InvariantBroken(`SQLite read ${bySqlite.count} rows, the scanner ${inPlace.count}, and they differ`);
    }
    return `${bySqlite ? `rows ${sizeClass(bySqlite.count)}` : 'null'} / ${inPlace ? `rows ${sizeClass(inPlace.count)}` : 'null'}`;
  },
};
