import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionRefusedError } from '../../src/core/errors.ts';
import { PlistConnection, isPlistDict, type PlistDict } from '../../src/plist/index.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { PRE_SESSION_ROOT_KEYS, DEVICE_MODELS, IOS_BUILDS, resolveProfile } from '../../src/virtual-iphone/profile.ts';
import { LOCKDOWN_PORT, type DeviceConnector } from '../../src/usbmux/device-connector.ts';
import { LockdownClient } from '../../src/lockdown/lockdown-client.ts';
import { KeyValuePairingStore, MemoryPairingDatabase } from '../../src/lockdown/pairing-store.ts';
import { buildPairingCertificates, certificatePem, generateRsaKeyPair } from '../../src/lockdown/certificates.ts';
import { useBrowserTlsAcceptor } from '../../src/virtual-iphone/lockdownd/session-tls.ts';
import { readDeviceInfo } from '../../src/lockdown/device-info.ts';
import { productName } from '../../src/lockdown/product-names.ts';

/** The virtual lockdownd spoken to directly over the in-memory port table (no usbmuxd). */

function connectorFor(iphone: VirtualIPhone): DeviceConnector {
  return {
    device: { udid: iphone.udid, productId: iphone.productId, connectionType: 'USB' },
    async connect(port) {
      const stream = iphone.ports.connect(port);
      if (!stream) throw new ConnectionRefusedError(port);
      return stream;
    },
  };
}

async function rawLockdown(iphone: VirtualIPhone) {
  const conn = new PlistConnection(iphone.ports.connect(LOCKDOWN_PORT)!, 'test');
  return {
    async request(body: PlistDict): Promise<PlistDict> {
      await conn.send({ Label: 'test', ...body });
      const reply = await conn.receive();
      assert.ok(isPlistDict(reply));
      return reply;
    },
    close: () => conn.close(),
  };
}

test('profile table: every model resolves with a known build, consistent values', () => {
  for (const model of DEVICE_MODELS) {
    const profile = resolveProfile({ udid: '00008110-000A1B2C3D4E5F60', productType: model.productType });
    assert.equal(IOS_BUILDS[profile.productVersion], profile.buildVersion);
    assert.equal(productName(model.productType), model.marketingName, 'host table agrees with the device table');
    assert.equal(model.usbProductId, model.deviceClass === 'iPad' ? 0x12ab : 0x12a8);
  }
  const iphone = new VirtualIPhone({ productType: 'iPhone14,5', productVersion: '16.7.10' });
  assert.equal(iphone.values.root.BuildVersion, '20H350');
  assert.equal(iphone.values.root.HardwareModel, 'D17AP');
  const imei = String(iphone.values.root.InternationalMobileEquipmentIdentity);
  assert.match(imei, /^\d{15}$/);
  const disk = iphone.values.domains['com.apple.disk_usage']!;
  assert.equal(disk.TotalDiskCapacity, 128e9);
  assert.ok((disk.TotalDataAvailable as number) < (disk.TotalDataCapacity as number));
  assert.ok((disk.TotalDataCapacity as number) + (disk.TotalSystemCapacity as number) <= 128e9);
  assert.throws(() => new VirtualIPhone({ productType: 'iPhone10,6', productVersion: '18.6' }), /cannot run iOS 18.6/);
  assert.throws(() => new VirtualIPhone({ productType: 'iPhone99,1' }), /Unknown ProductType/);
  assert.equal(new VirtualIPhone({ productType: 'iPad13,4' }).values.root.InternationalMobileEquipmentIdentity, undefined);
});

test('pre-session: QueryType, reduced GetValue, prohibited and missing values, UntrustedHostBUID', async () => {
  const iphone = new VirtualIPhone({ productType: 'iPhone15,4', productVersion: '18.1' });
  const ld = await rawLockdown(iphone);
  try {
    assert.deepEqual(await ld.request({ Request: 'QueryType' }), { Request: 'QueryType', Type: 'com.apple.mobile.lockdown' });
    const all = await ld.request({ Request: 'GetValue' });
    const root = all.Value;
    assert.ok(isPlistDict(root));
    const visible = Object.keys(root);
    assert.ok(visible.length >= 20 && visible.every((k) => PRE_SESSION_ROOT_KEYS.includes(k)), visible.join());
    assert.equal(root.ProductType, 'iPhone15,4');
    assert.equal(root.SerialNumber, undefined);
    const pk = await ld.request({ Request: 'GetValue', Key: 'DevicePublicKey' });
    assert.match(new TextDecoder().decode(pk.Value as Uint8Array), /^-----BEGIN RSA PUBLIC KEY-----/);
    assert.equal((await ld.request({ Request: 'GetValue', Key: 'SerialNumber' })).Error, 'GetProhibited');
    assert.equal((await ld.request({ Request: 'GetValue', Key: 'NoSuchKey' })).Error, 'MissingValue');
    assert.equal((await ld.request({ Request: 'GetValue', Domain: 'com.apple.disk_usage' })).Error, 'GetProhibited');
    assert.equal((await ld.request({ Request: 'SetValue', Key: 'UntrustedHostBUID', Value: 'BUID-1' })).Error, undefined);
    assert.equal(iphone.lockdownd.untrustedHostBuid, 'BUID-1');
    assert.equal((await ld.request({ Request: 'SetValue', Key: 'DeviceName', Value: 'x' })).Error, 'SetProhibited');
    assert.equal((await ld.request({ Request: 'StartSession', HostID: 'NOPE', SystemBUID: 'x' })).Error, 'InvalidHostID');
    assert.equal((await ld.request({ Request: 'StartService', Service: 'com.apple.afc' })).Error, 'SessionInactive');
    assert.equal((await ld.request({ Request: 'Frobnicate' })).Error, 'InvalidRequest');
  } finally {
    await ld.close();
  }
});

test('Pair validates the certificates it is given', async () => {
  const iphone = new VirtualIPhone();
  const ld = await rawLockdown(iphone);
  try {
    const enc = new TextEncoder();
    const [rootKeys, hostKeys, otherKeys] = await Promise.all([generateRsaKeyPair(false), generateRsaKeyPair(false), generateRsaKeyPair(true)]);
    const otherSpki = new Uint8Array(await crypto.subtle.exportKey('spki', otherKeys.publicKey));
    const { encodePem } = await import('../../src/lockdown/pem.ts');
    // a device certificate for somebody else's key
    const wrong = await buildPairingCertificates({ devicePublicKey: encodePem('PUBLIC KEY', otherSpki), rootKeys, hostKeys });
    const record = (c: typeof wrong): PlistDict => ({
      HostID: 'HOST-1',
      SystemBUID: 'BUID',
      RootCertificate: enc.encode(certificatePem(c.root)),
      HostCertificate: enc.encode(certificatePem(c.host)),
      DeviceCertificate: enc.encode(certificatePem(c.device)),
    });
    assert.equal((await ld.request({ Request: 'Pair', PairRecord: record(wrong) })).Error, 'InvalidPairRecord');
    assert.equal((await ld.request({ Request: 'Pair', PairRecord: { ...record(wrong), RootCertificate: enc.encode('junk') } })).Error, 'InvalidPairRecord');
    assert.equal((await ld.request({ Request: 'Pair' })).Error, 'MissingPairRecord');
    const key = (await ld.request({ Request: 'GetValue', Key: 'DevicePublicKey' })).Value as Uint8Array;
    const right = await buildPairingCertificates({ devicePublicKey: key, rootKeys, hostKeys });
    // host certificate signed by a different root
    const foreign = await buildPairingCertificates({ devicePublicKey: key, rootKeys: otherKeys, hostKeys });
    assert.equal((await ld.request({ Request: 'Pair', PairRecord: { ...record(right), HostCertificate: enc.encode(certificatePem(foreign.host)) } })).Error, 'InvalidPairRecord');
    const ok = await ld.request({ Request: 'Pair', PairRecord: record(right), ProtocolVersion: '2' });
    assert.equal(ok.Error, undefined);
    assert.ok(ok.EscrowBag instanceof Uint8Array);
    assert.ok(iphone.lockdownd.pairedHosts.has('HOST-1'));
    assert.equal((await ld.request({ Request: 'ValidatePair', PairRecord: { HostID: 'HOST-1' } })).Error, undefined);
    assert.equal((await ld.request({ Request: 'Unpair', PairRecord: { HostID: 'HOST-1' } })).Error, undefined);
    assert.equal((await ld.request({ Request: 'ValidatePair', PairRecord: { HostID: 'HOST-1' } })).Error, 'InvalidHostID');
  } finally {
    await ld.close();
  }
});

for (const acceptor of ['node:tls', 'Lifeboat TLS'] as const) {
  test(`LockdownClient ↔ virtual lockdownd in memory, device TLS on ${acceptor}`, async () => {
    useBrowserTlsAcceptor(acceptor === 'Lifeboat TLS');
    try {
      const iphone = new VirtualIPhone({ productType: 'iPhone17,1' });
      iphone.registerService('com.example.echo', (s) => {
        void (async () => {
          for (let c = await s.read(); c; c = await s.read()) await s.write(c);
          await s.close();
        })();
      });
      const db = new MemoryPairingDatabase();
      const store = new KeyValuePairingStore(db);
      const client = await LockdownClient.connect(connectorFor(iphone), { store });
      const identity = await client.pair();
      assert.equal(identity.hostPrivateKey.extractable, false, 'browser store keeps the host key non-extractable');
      assert.equal((await db.getPairing(iphone.udid))!.hostPrivateKey.extractable, false);
      await client.startSession();
      const info = await readDeviceInfo(client);
      assert.equal(info.productName, 'iPhone 16 Pro');
      assert.equal(info.serialNumber, iphone.values.root.SerialNumber);
      assert.equal(info.totalCapacity, 128e9);
      await client.setValue('com.apple.mobile.backup', 'WillEncrypt', true);
      assert.equal(iphone.values.domains['com.apple.mobile.backup']!.WillEncrypt, true);
      await client.stopSession();
      assert.equal(await client.queryType(), 'com.apple.mobile.lockdown', 'plaintext again after StopSession');
      await client.startSession();
      assert.equal(await client.getValue('com.apple.mobile.backup', 'WillEncrypt'), true);

      iphone.lockdownd.sslServices.add('com.example.echo');
      const echo = await client.startService('com.example.echo', { withEscrowBag: true });
      await echo.write(new TextEncoder().encode('over TLS'));
      assert.equal(new TextDecoder().decode((await echo.read())!), 'over TLS');
      await echo.close();
      assert.deepEqual(iphone.lockdownd.startedServices.map((s) => [s.service, s.withEscrowBag]), [['com.example.echo', true]]);
      await client.close();

      // A second client finds the stored pairing (SystemBUID generated once).
      const again = await LockdownClient.connect(connectorFor(iphone), { store });
      await again.startSession();
      assert.equal(await again.getValue(undefined, 'ProductType'), 'iPhone17,1');
      await again.close();
      assert.equal(iphone.lockdownd.pairedHosts.size, 1);
      assert.equal(await store.systemBuid(), await store.systemBuid());
    } finally {
      useBrowserTlsAcceptor(false);
    }
  });
}
