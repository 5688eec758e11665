import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceLockedError, PairingDeniedError } from '../../src/core/errors.ts';
import { startVirtualUsbmuxd, type VirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { LockdownClient, type PairingProgress } from '../../src/lockdown/lockdown-client.ts';
import { UsbmuxdPairingStore } from '../../src/lockdown/pairing-store.ts';
import { PairingInvalidError, ServiceUnavailableError } from '../../src/lockdown/errors.ts';
import { readDeviceInfo } from '../../src/lockdown/device-info.ts';
import { UsbmuxdClient } from '../../src/usbmux/node/usbmuxd-client.ts';
import { UsbmuxdDeviceConnector } from '../../src/usbmux/node/usbmuxd-device-connector.ts';
import { runCli } from '../../src/cli/main.ts';
import { useBrowserTlsAcceptor } from '../../src/virtual-iphone/lockdownd/session-tls.ts';

/** Our LockdownClient (Node, pair records in the fake usbmuxd) against the virtual iPhone. */

async function connect(v: VirtualUsbmuxd): Promise<LockdownClient> {
  const client = new UsbmuxdClient({ address: v.address });
  const connector = await UsbmuxdDeviceConnector.open({ client });
  return LockdownClient.connect(connector, { store: new UsbmuxdPairingStore(client), label: 'test' });
}

test('pairs after the Trust dialog, reads full info, StopSession, StartService, InvalidHostID once forgotten', async () => {
  const iphone = new VirtualIPhone({ productType: 'iPhone15,2', trust: { acceptAfterMs: 250 } });
  iphone.registerService('com.example.dummy', (s) => {
    void s.write(new TextEncoder().encode('dummy ready')).then(() => s.close());
  });
  const v = await startVirtualUsbmuxd({ iphone });
  try {
    const lockdown = await connect(v);
    const progress: PairingProgress[] = [];
    const started = Date.now();
    await lockdown.pair((p) => progress.push(p), { pollIntervalMs: 50 });
    assert.ok(Date.now() - started >= 250, 'Pair waited for the dialog');
    assert.equal(progress[0], 'preparing');
    assert.ok(progress.includes('waiting-for-trust'));
    assert.equal(progress.at(-1), 'paired');
    assert.ok(v.server.state.readPairRecord(iphone.udid), 'record saved through usbmuxd');

    await lockdown.startSession();
    const info = await readDeviceInfo(lockdown);
    assert.equal(info.productName, 'iPhone 14 Pro');
    assert.equal(info.deviceName, 'Ada’s iPhone');
    assert.equal(info.batteryLevel, iphone.values.domains['com.apple.mobile.battery']!.BatteryCurrentCapacity);
    assert.equal(info.willEncrypt, false);
    await lockdown.stopSession();
    assert.equal(lockdown.inSession, false);

    const stream = await lockdown.startService('com.example.dummy'); // starts a session by itself
    assert.equal(new TextDecoder().decode((await stream.read())!), 'dummy ready');
    await stream.close();
    await assert.rejects(lockdown.startService('com.apple.nope'), (e) => e instanceof ServiceUnavailableError && e.lockdownError === 'InvalidService');
    iphone.lockdownd.prohibitedServices.add('com.example.dummy');
    await assert.rejects(lockdown.startService('com.example.dummy'), (e) => e instanceof ServiceUnavailableError && e.lockdownError === 'ServiceProhibited');
    await lockdown.close();

    iphone.lockdownd.forgetHost();
    const stale = await connect(v);
    await assert.rejects(stale.startSession(), (e) => e instanceof PairingInvalidError && e.code === 'pairing-invalid' && /Pair again/.test(e.action ?? ''));
    await stale.close();
  } finally {
    await v.close();
  }
});

test('denied, then retried and trusted; locked until unlocked', async () => {
  const iphone = new VirtualIPhone({ trust: { response: 'deny', locked: true } });
  const v = await startVirtualUsbmuxd({ iphone });
  try {
    const lockdown = await connect(v);
    await assert.rejects(lockdown.pair(), (e) => e instanceof DeviceLockedError);
    iphone.lockdownd.trust.unlock();
    await assert.rejects(lockdown.pair(), (e) => e instanceof PairingDeniedError);
    iphone.lockdownd.trust.response = 'accept';
    await lockdown.pair();
    assert.equal(iphone.lockdownd.trust.prompts.length, 2, 'the dialog came back for the retry');
    await lockdown.startSession();
    iphone.lockdownd.trust.lock();
    await assert.rejects(lockdown.startService('com.apple.afc'), (e) => e instanceof DeviceLockedError);
    await lockdown.close();
  } finally {
    await v.close();
  }
});

test('a TLS handshake the device refuses is reported as pairing-invalid', async () => {
  // node:tls only exposes the client certificate after the handshake, so the device side that
  // refuses *during* the handshake (as an iPhone does) is Lifeboat's own TLS server.
  useBrowserTlsAcceptor(true);
  const iphone = new VirtualIPhone();
  const v = await startVirtualUsbmuxd({ iphone });
  try {
    const lockdown = await connect(v);
    await lockdown.pair();
    await lockdown.close();
    // The device still knows the HostID but now holds a different root certificate for it.
    const host = [...iphone.lockdownd.pairedHosts.values()][0]!;
    const other = new VirtualIPhone();
    const helper = await startVirtualUsbmuxd({ iphone: other });
    try {
      const foreign = await connect(helper);
      await foreign.pair();
      await foreign.close();
      const otherHost = [...other.lockdownd.pairedHosts.values()][0]!;
      iphone.lockdownd.pairedHosts.set(host.hostId, { ...host, rootCertificate: otherHost.rootCertificate });
    } finally {
      await helper.close();
    }
    const again = await connect(v);
    await assert.rejects(again.startSession(), (e) => e instanceof PairingInvalidError && e.lockdownError === 'TLS');
    await again.close();
  } finally {
    useBrowserTlsAcceptor(false);
    await v.close();
  }
});

test('CLI: info before pairing, pair, full info, unpair', async () => {
  const iphone = new VirtualIPhone({ productType: 'iPhone13,2', productVersion: '17.5.1', trust: { acceptAfterMs: 1200 } });
  const v = await startVirtualUsbmuxd({ iphone });
  const run = async (...argv: string[]) => {
    let out = '';
    let err = '';
    const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { USBMUXD_SOCKET_ADDRESS: v.address });
    return { code, out, err };
  };
  try {
    const before = await run('info');
    assert.equal(before.code, 0, before.err);
    assert.match(before.out, /Model:\s+iPhone 12 \(iPhone13,2\)/);
    assert.match(before.out, /iOS:\s+17\.5\.1 \(21F90\)/);
    assert.doesNotMatch(before.out, /Serial number/);
    assert.match(before.out, /not paired/);

    const pair = await run('pair');
    assert.equal(pair.code, 0, pair.err);
    assert.match(pair.out, /Tap Trust on your iPhone and enter your passcode/);
    assert.match(pair.out, /Paired with/);

    const after = await run('info');
    assert.equal(after.code, 0, after.err);
    assert.match(after.out, new RegExp(`Serial number:\\s+${String(iphone.values.root.SerialNumber)}`));
    assert.match(after.out, /Capacity:\s+64\.0 GB/);
    assert.match(after.out, /Encrypted backups: off/);

    const disk = await run('info', '--domain', 'com.apple.disk_usage', '--key', 'TotalDiskCapacity');
    assert.equal(disk.out.trim(), '64000000000');

    const unpair = await run('unpair');
    assert.equal(unpair.code, 0, unpair.err);
    assert.equal(iphone.lockdownd.pairedHosts.size, 0);
    assert.equal(v.server.state.readPairRecord(iphone.udid), null);
  } finally {
    await v.close();
  }
});
