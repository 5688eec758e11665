import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { concatBytes } from '../../src/core/bytes.ts';
import { Redactor, stableIdentifierHash } from '../../src/diagnostics/redact.ts';
import { recorderTap } from '../../src/diagnostics/stream-tap.ts';
import { TraceFormatError, jsonToPlist, messageName, parseTrace, plistToJson, type TraceEvent } from '../../src/diagnostics/trace-format.ts';
import { TraceRecorder } from '../../src/diagnostics/trace-recorder.ts';
import { PlistReal, PlistUid, encodeBinaryPlist, encodeXmlPlist, type PlistValue } from '../../src/plist/index.ts';
import { buildReplayScript } from '../../src/virtual-iphone/replay/replay-script.ts';
import { ReplayError } from '../../src/virtual-iphone/replay/replay-errors.ts';

const UDID = '00008030-001A2B3C4D5E802E';

test('trace JSON: every plist type survives plistToJson → jsonToPlist, and $-keys are not mistaken for tags', () => {
  const value: PlistValue = {
    s: 'text',
    i: 7,
    big: 2n ** 70n,
    r: new PlistReal(2),
    f: 1.5,
    b: true,
    d: new Date('2026-12-03T07:00:00Z'),
    data: new Uint8Array([1, 2, 3]),
    uid: new PlistUid(4),
    list: [1, 'two'],
    archive: { $archiver: 'NSKeyedArchiver', $objects: ['$null'] },
  };
  const back = jsonToPlist(JSON.parse(JSON.stringify(plistToJson(value))), () => assert.fail('nothing is redacted'));
  assert.deepEqual(back, { ...value, f: new PlistReal(1.5) });
});

test('redact: secrets and personal values by key name, identifiers as stable hashes in values, keys and free text', () => {
  const r = new Redactor();
  const hashed = r.identifier(UDID);
  assert.match(hashed, /^[0-9A-F]{8}-[0-9A-F]{16}$/);
  assert.notEqual(hashed, UDID);
  assert.equal(stableIdentifierHash(UDID), hashed, 'stable across recorders');
  assert.match(stableIdentifierHash('9EA43DB5-331A-4D9E-8B55-9FB112FCD776'), /^[0-9A-F]{8}-([0-9A-F]{4}-){3}[0-9A-F]{12}$/);
  assert.match(stableIdentifierHash('a'.repeat(40)), /^[0-9a-f]{40}$/);
  const json = JSON.stringify(
    r.plist({
      Request: 'StartSession',
      HostID: '9EA43DB5-331A-4D9E-8B55-9FB112FCD776',
      EscrowBag: new Uint8Array(32),
      NewPassword: 'hunter2',
      DeviceName: 'Ada’s iPhone',
      WillEncrypt: true,
      Moves: { [`${UDID}/Snapshot/ab/x`]: `${UDID}/ab/x` },
      Blob: new Uint8Array(9),
    }),
  );
  for (const secret of ['hunter2', 'Ada', UDID, '9EA43DB5-331A-4D9E-8B55-9FB112FCD776']) assert.ok(!json.includes(secret), secret);
  assert.ok(json.includes(`"${hashed}/Snapshot/ab/x":"${hashed}/ab/x"`));
  assert.ok(json.includes('"WillEncrypt":true'), 'booleans stay');
  assert.ok(json.includes('{"$redacted":"data","size":9,"why":"content"}'), 'data is size only');
  // GetValue answers carry the key's name beside the Value.
  assert.deepEqual(r.plist({ Key: 'PhoneNumber', Value: '+44 7700 900123' }), { Key: 'PhoneNumber', Value: { $redacted: 'string', size: 15, why: 'personal' } });
  assert.equal(r.text(`could not open ${UDID}/Manifest.db`), `could not open ${hashed}/Manifest.db`);
});

test('message names: lockdown requests, DeviceLink messages, notification commands', () => {
  assert.equal(messageName({ Request: 'GetValue', Domain: 'com.apple.mobile.backup', Key: 'WillEncrypt' }), 'Request GetValue{Domain: com.apple.mobile.backup, Key: WillEncrypt}');
  assert.equal(messageName(['DLMessageProcessMessage', { MessageName: 'Backup' }]), 'DLMessageProcessMessage{MessageName: Backup}');
  assert.equal(messageName(['DLMessageUploadFiles', {}]), 'DLMessageUploadFiles');
  assert.equal(messageName({ Command: 'ObserveNotification', Name: 'x' }), 'Command ObserveNotification{Name: x}');
});

function frame(value: PlistValue, binary = true): Uint8Array {
  const body = binary ? encodeBinaryPlist(value) : encodeXmlPlist(value);
  return concatBytes([u32(body.byteLength), body]);
}
function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
function uploadFile(path: string, data: Uint8Array): Uint8Array {
  const p = new TextEncoder().encode(path);
  return concatBytes([u32(p.length), p, u32(p.length), p, u32(data.length + 1), new Uint8Array([0x0c]), data, new Uint8Array([0, 0, 0, 1, 0])]);
}

/** Runs device bytes through a tapped connection in chunks of `chunk` bytes; returns the recorded events. */
async function tapDeviceBytes(bytes: Uint8Array, chunk: number, service = 'com.apple.mobilebackup2'): Promise<TraceEvent[]> {
  const recorder = new TraceRecorder({ app: 't', runtime: 't', os: 't' });
  recorder.redactor.identifier(UDID);
  const [host, device] = createStreamPair();
  const tapped = recorderTap(recorder).open(host, { port: 49152, service });
  const writing = (async () => {
    for (let at = 0; at < bytes.length; at += chunk) await device.write(bytes.slice(at, at + chunk));
    await device.close();
  })();
  while ((await tapped.stream.read()) !== null) {
    // the tap records as the host reads
  }
  await writing;
  return parseTrace(recorder.text())[0]!.events;
}

test('stream tap: DeviceLink messages and an upload batch are cut the same whatever the chunking; Status.plist keeps its redacted content', async () => {
  const status = encodeBinaryPlist({ SnapshotState: 'finished', UUID: '9EA43DB5-331A-4D9E-8B55-9FB112FCD776' });
  const bytes = concatBytes([
    frame(['DLMessageUploadFiles', {}]),
    uploadFile(`${UDID}/Snapshot/ab/abcdef`, new Uint8Array(5_000).fill(7)),
    uploadFile(`${UDID}/Snapshot/Status.plist`, status),
    u32(0),
    frame(['DLMessageProcessMessage', { MessageName: 'Response', ErrorCode: 0 }]),
  ]);
  const hashed = stableIdentifierHash(UDID);
  const expected = (events: TraceEvent[]) => events.map((e) => ({ ...e, t: 0 }));
  const whole = await tapDeviceBytes(bytes, bytes.length);
  assert.deepEqual(
    whole.filter((e) => e.kind !== 'open' && e.kind !== 'close').map((e) => [e.kind, 'name' in e ? e.name : 'path' in e ? `${e.path}:${e.bytes}` : '']),
    [
      ['plist', 'DLMessageUploadFiles'],
      ['file', `${hashed}/Snapshot/ab/abcdef:5000`],
      ['file', `${hashed}/Snapshot/Status.plist:${status.length}`],
      ['files-end', ''],
      ['plist', 'DLMessageProcessMessage{MessageName: Response}'],
    ],
  );
  const kept = whole.find((e) => e.kind === 'file' && e.path.endsWith('Status.plist'));
  assert.ok(kept?.kind === 'file' && kept.content !== undefined);
  assert.equal((kept.content as Record<string, unknown>).SnapshotState, 'finished');
  for (const size of [1, 3, 4096]) assert.deepEqual(expected(await tapDeviceBytes(bytes, size)), expected(whole), `chunks of ${size}`);
});

test('stream tap: AFC packets by operation and sizes; unframeable bytes are counted', async () => {
  const header = new Uint8Array(40);
  header.set(new TextEncoder().encode('CFA6LPAA'));
  const view = new DataView(header.buffer);
  view.setUint32(8, 40 + 8 + 100, true);
  view.setUint32(16, 40 + 8, true);
  view.setUint32(24, 5, true);
  view.setUint32(32, 2, true);
  const events = await tapDeviceBytes(concatBytes([header, new Uint8Array(8), new Uint8Array(100)]), 7, 'com.apple.afc');
  const afc = events.find((e) => e.kind === 'afc');
  assert.deepEqual(afc && { ...afc, t: 0 }, { kind: 'afc', conn: 1, dir: 'device', op: 2, packet: 5, header: 'AAAAAAAAAAA=', bytes: 100, t: 0 });
  const junk = await tapDeviceBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2]), 6);
  assert.ok(junk.some((e) => e.kind === 'note'));
});

test('trace files: clear errors for a missing header, a newer version, a broken line; replay needs the device', () => {
  assert.throws(() => parseTrace('{"kind":"plist"}\n'), (e: unknown) => e instanceof TraceFormatError && /header/.test(e.message));
  assert.throws(() => parseTrace('{"kind":"trace","format":"lifeboat-trace","version":99}\n'), /version 99 is newer/);
  assert.throws(() => parseTrace('{"kind":"trace","format":"lifeboat-trace","version":1}\nnot json\n'), /Line 2/);
  const sessions = parseTrace('{"kind":"trace","format":"lifeboat-trace","version":1}\n{"kind":"open","t":0,"conn":1,"port":62078,"service":"lockdown"}\n');
  assert.throws(() => buildReplayScript(sessions), (e: unknown) => e instanceof ReplayError && /names no device/.test(e.message));
});
