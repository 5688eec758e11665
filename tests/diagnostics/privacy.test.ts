import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabaseBytes, selectRows } from '../../src/library/sqlite.ts';
import { contentChunks, type Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { concatBytes } from '../../src/core/bytes.ts';
import { parseTrace } from '../../src/diagnostics/trace-format.ts';
import { isPlistDict, type PlistValue } from '../../src/plist/index.ts';
import { join } from 'node:path';
import { recordSession, sessionSteps } from './record-session.ts';
import { startReplay } from './replay-session.ts';

const PASSWORD = 'correct horse battery';

async function fileBytes(dataset: Dataset, domain: string, path: string): Promise<Uint8Array> {
  const entry = dataset.get(domain, path);
  assert.ok(entry?.content, `${domain}/${path} is in the dataset`);
  return concatBytes([...contentChunks(entry.content, 1 << 20)]);
}

async function column(dataset: Dataset, domain: string, path: string, sql: string): Promise<string[]> {
  const db = await openDatabaseBytes(await fileBytes(dataset, domain, path), path);
  try {
    return selectRows(db, sql)
      .flatMap((row) => Object.values(row))
      .filter((v): v is string => typeof v === 'string' && v.trim().length > 0);
  } finally {
    db.close();
  }
}

/** Every personal text of the recorded device: messages, handles, contacts, notes, calls, and the phone's own name and numbers. */
async function personalStrings(dataset: Dataset, lockdownRoot: Record<string, PlistValue>): Promise<string[]> {
  const sms = ['HomeDomain', 'Library/SMS/sms.db'] as const;
  const book = ['HomeDomain', 'Library/AddressBook/AddressBook.sqlitedb'] as const;
  const notes = ['AppDomainGroup-group.com.apple.notes', 'NoteStore.sqlite'] as const;
  const calls = ['HomeDomain', 'Library/CallHistoryDB/CallHistory.storedata'] as const;
  const strings = [
    ...(await column(dataset, ...sms, 'SELECT text FROM message')),
    ...(await column(dataset, ...sms, 'SELECT id FROM handle')),
    ...(await column(dataset, ...book, "SELECT First || ' ' || Last FROM ABPerson")),
    ...(await column(dataset, ...book, 'SELECT value FROM ABMultiValue')),
    ...(await column(dataset, ...notes, 'SELECT ZTITLE1, ZSNIPPET FROM ZICCLOUDSYNCINGOBJECT')),
    ...(await column(dataset, ...calls, 'SELECT ZADDRESS FROM ZCALLRECORD')),
  ];
  for (const key of ['DeviceName', 'SerialNumber', 'UniqueDeviceID', 'WiFiAddress', 'BluetoothAddress', 'InternationalMobileEquipmentIdentity']) {
    const v = lockdownRoot[key];
    if (typeof v === 'string') strings.push(v);
  }
  for (const domain of Object.values(lockdownRoot)) {
    if (isPlistDict(domain) && typeof domain.PhoneNumber === 'string') strings.push(domain.PhoneNumber);
  }
  return [...new Set(strings)];
}

test('privacy: a recorded demo session (pair, encrypted backup, restore) holds no personal data, password or key, and replays', async () => {
  const session = await recordSession({ password: PASSWORD });
  try {
    const { trace, dataset, iphone } = session;
    const sessions = parseTrace(trace);
    assert.equal(sessions.length, 4, 'pair, encryption on, backup and restore each wrote a session');
    const events = sessions.flatMap((s) => s.events);
    // The trace is useful: it has lockdown, DeviceLink and the backup's files.
    assert.ok(events.some((e) => e.kind === 'plist' && e.name === 'Request StartSession'));
    assert.ok(events.some((e) => e.kind === 'plist' && e.name === 'DLMessageProcessMessage{MessageName: Backup}'));
    assert.ok(events.some((e) => e.kind === 'plist' && e.name === 'DLMessageProcessMessage{MessageName: Restore}'));
    assert.ok(events.filter((e) => e.kind === 'file' && e.dir === 'device').length > 100, 'the uploaded files are listed');

    const personal = await personalStrings(dataset, iphone.values.root);
    assert.ok(personal.length > 40, `found the dataset's personal strings (${personal.length})`);
    for (const text of personal) assert.ok(!trace.includes(text), `the trace contains personal data: ${JSON.stringify(text)}`);
    // Names also one by one (a first name alone is as telling).
    const names = await column(dataset, 'HomeDomain', 'Library/AddressBook/AddressBook.sqlitedb', 'SELECT First, Last FROM ABPerson');
    for (const name of new Set(names)) assert.doesNotMatch(trace, new RegExp(`\\b${name}\\b`, 'u'), `the trace names ${name}`);

    assert.ok(!trace.includes(PASSWORD), 'the backup password');
    assert.doesNotMatch(trace, /-----BEGIN|PRIVATE KEY|MII[A-Za-z0-9+/]{20}/, 'PEM or DER key material');
    assert.ok(!trace.includes(iphone.udid), 'the raw UDID (only its hash)');

    // The same trace (the encrypted profile) replays: pair, encryption on, encrypted backup, restore.
    const replay = await startReplay(session);
    try {
      const out = join(session.backupDir, '..', 'replayed');
      const [pair, encryption, , restore] = sessionSteps(out, PASSWORD);
      for (const step of [pair!, encryption!, ['backup', out]]) {
        const r = await replay.run(step);
        assert.equal(r.code, 0, `${step[0]}: ${r.err}`);
      }
      const r = await replay.run(['restore', await replay.restoreSource(), ...restore!.slice(2)]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(replay.device.failures, []);
      assert.equal(replay.device.connectionsLeft, 0);
    } finally {
      await replay.close();
    }
  } finally {
    await session.cleanup();
  }
});
