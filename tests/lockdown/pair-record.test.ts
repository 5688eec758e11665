import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { encodePairRecord, decodePairRecord, pairRequestRecord, type PairRecord } from '../../src/lockdown/pair-record.ts';
import { encodeXmlPlist } from '../../src/plist/index.ts';
import { PemError } from '../../src/lockdown/pem.ts';

const enc = new TextEncoder();
const record: PairRecord = {
  hostId: 'C4E2A6B0-1F5D-4E57-9A3B-2D7C8E9F0A1B',
  systemBuid: '6ADF18C1-315E-7854-19FC-4589400FC858',
  rootCertificate: enc.encode('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
  hostCertificate: enc.encode('-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n'),
  deviceCertificate: enc.encode('-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n'),
  rootPrivateKey: enc.encode('-----BEGIN PRIVATE KEY-----\nDDDD\n-----END PRIVATE KEY-----\n'),
  hostPrivateKey: enc.encode('-----BEGIN RSA PRIVATE KEY-----\nEEEE\n-----END RSA PRIVATE KEY-----\n'),
  escrowBag: new Uint8Array(32).fill(7),
  wifiMacAddress: 'f4:0f:24:12:34:56',
};

test('pair record round-trips and matches libimobiledevice key names (checked with plistutil)', () => {
  const bytes = encodePairRecord(record);
  assert.deepEqual(decodePairRecord(bytes), record);
  const xml = execFileSync('plistutil', ['-i', '-', '-o', '-', '-f', 'xml'], { input: bytes, encoding: 'utf8' });
  for (const key of ['DeviceCertificate', 'HostCertificate', 'RootCertificate', 'HostPrivateKey', 'RootPrivateKey', 'HostID', 'SystemBUID', 'EscrowBag', 'WiFiMACAddress']) {
    assert.match(xml, new RegExp(`<key>${key}</key>`));
  }
  assert.match(xml, /<key>HostCertificate<\/key>\s*<data>/, 'PEM is stored as data');
  // XML records (and PEM as <string>, as some tools write) decode too
  const asStrings = { ...Object.fromEntries(Object.entries({ HostID: record.hostId, SystemBUID: record.systemBuid })), RootCertificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', HostCertificate: record.hostCertificate, DeviceCertificate: record.deviceCertificate };
  const decoded = decodePairRecord(encodeXmlPlist(asStrings));
  assert.deepEqual(decoded.rootCertificate, record.rootCertificate);
  assert.equal(decoded.hostPrivateKey, undefined);
});

test('the Pair request never carries private keys', () => {
  const sent = pairRequestRecord(record);
  assert.deepEqual(Object.keys(sent).sort(), ['DeviceCertificate', 'HostCertificate', 'HostID', 'RootCertificate', 'SystemBUID', 'WiFiMACAddress']);
});

test('broken records give a pairing-invalid error, not a crash', () => {
  assert.throws(() => decodePairRecord(encodeXmlPlist({ HostID: 'x' })), (e) => e instanceof PemError && e.code === 'pairing-invalid');
  assert.throws(() => decodePairRecord(encodeXmlPlist(['not a dict'])), PemError);
});
