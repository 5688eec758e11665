import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startVirtualUsbmuxd, type VirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { decodePairRecord } from '../../src/lockdown/pair-record.ts';
import { decodePem } from '../../src/lockdown/pem.ts';
import { LockdownClient } from '../../src/lockdown/lockdown-client.ts';
import { UsbmuxdPairingStore } from '../../src/lockdown/pairing-store.ts';
import { UsbmuxdClient } from '../../src/usbmux/node/usbmuxd-client.ts';
import { UsbmuxdDeviceConnector } from '../../src/usbmux/node/usbmuxd-device-connector.ts';

/** Debian's libimobiledevice 1.3.0 tools against the virtual iPhone behind the fake usbmuxd. */

interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

function tool(v: VirtualUsbmuxd, name: string, args: string[]): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(`/usr/bin/${name}`, args, { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: v.address }, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function parseInfo(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+): (.*)$/.exec(line);
    if (m) map.set(m[1]!, m[2]!);
  }
  return map;
}

test('ideviceinfo -s prints the pre-session values without pairing', async () => {
  const iphone = new VirtualIPhone({ productType: 'iPhone15,2', productVersion: '17.5.1', deviceName: 'Grace’s iPhone' });
  const v = await startVirtualUsbmuxd({ iphone });
  try {
    const r = await tool(v, 'ideviceinfo', ['-s']);
    assert.equal(r.code, 0, r.stderr);
    const info = parseInfo(r.stdout);
    assert.equal(info.get('ProductType'), 'iPhone15,2');
    assert.equal(info.get('ProductVersion'), '17.5.1');
    assert.equal(info.get('BuildVersion'), '21F90');
    assert.equal(info.get('DeviceName'), 'Grace’s iPhone');
    assert.equal(info.get('HardwareModel'), 'D73AP');
    assert.equal(info.get('UniqueDeviceID'), iphone.udid);
    assert.ok(!info.has('SerialNumber'), 'serial number is not shown before trust');
    assert.equal(iphone.lockdownd.pairedHosts.size, 0, 'no pairing happened');
    const one = await tool(v, 'ideviceinfo', ['-s', '-k', 'CPUArchitecture']);
    assert.equal(one.stdout.trim(), 'arm64e');
  } finally {
    await v.close();
  }
});

test('idevicepair pair + validate, full ideviceinfo over TLS, our client reuses the libimobiledevice record', async () => {
  const iphone = new VirtualIPhone({ productType: 'iPhone16,1' });
  const v = await startVirtualUsbmuxd({ iphone });
  try {
    const pair = await tool(v, 'idevicepair', ['pair']);
    assert.equal(pair.code, 0, pair.stdout + pair.stderr);
    assert.match(pair.stdout, /SUCCESS: Paired with device/);
    assert.equal(iphone.lockdownd.pairedHosts.size, 1);
    assert.equal(iphone.lockdownd.trust.prompts.length, 1, 'the Trust dialog appeared once');

    const validate = await tool(v, 'idevicepair', ['validate']);
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
    assert.match(validate.stdout, /SUCCESS: Validated pairing/);

    const full = await tool(v, 'ideviceinfo', []);
    assert.equal(full.code, 0, full.stderr);
    const info = parseInfo(full.stdout);
    assert.equal(info.get('ProductType'), 'iPhone16,1');
    assert.equal(info.get('SerialNumber'), iphone.values.root.SerialNumber);
    assert.equal(info.get('InternationalMobileEquipmentIdentity'), iphone.values.root.InternationalMobileEquipmentIdentity);

    const disk = await tool(v, 'ideviceinfo', ['-q', 'com.apple.disk_usage']);
    assert.equal(disk.code, 0, disk.stderr);
    const diskInfo = parseInfo(disk.stdout);
    assert.equal(diskInfo.get('TotalDiskCapacity'), String(iphone.values.domains['com.apple.disk_usage']!.TotalDiskCapacity));

    iphone.values.domains['com.apple.mobile.backup']!.WillEncrypt = true;
    const enc = await tool(v, 'ideviceinfo', ['-q', 'com.apple.mobile.backup', '-k', 'WillEncrypt']);
    assert.equal(enc.stdout.trim(), 'true');

    // The record libimobiledevice saved through usbmuxd decodes in our format…
    const bytes = v.server.state.readPairRecord(iphone.udid);
    assert.ok(bytes);
    const record = decodePairRecord(bytes);
    assert.match(record.hostId, /^[0-9A-F-]{36}$/);
    assert.equal(record.systemBuid, v.server.systemBuid);
    assert.equal(decodePem(record.rootCertificate).label, 'CERTIFICATE');
    assert.match(decodePem(record.hostPrivateKey!).label, /PRIVATE KEY/);
    assert.ok(record.escrowBag && record.escrowBag.byteLength > 0);
    assert.equal(record.wifiMacAddress, iphone.values.root.WiFiAddress);

    // …and our client starts a TLS session with it (its SHA-1 certificates, its key).
    const client = new UsbmuxdClient({ address: v.address });
    const connector = await UsbmuxdDeviceConnector.open({ client });
    const lockdown = await LockdownClient.connect(connector, { store: new UsbmuxdPairingStore(client) });
    try {
      await lockdown.startSession();
      assert.equal(await lockdown.getValue(undefined, 'SerialNumber'), iphone.values.root.SerialNumber);
    } finally {
      await lockdown.close();
    }

    const unpair = await tool(v, 'idevicepair', ['unpair']);
    assert.equal(unpair.code, 0, unpair.stdout + unpair.stderr);
    assert.equal(iphone.lockdownd.pairedHosts.size, 0);
  } finally {
    await v.close();
  }
});

test('ideviceinfo sees a pairing our client made', async () => {
  const iphone = new VirtualIPhone({ productType: 'iPad14,1', productVersion: '18.1' });
  const v = await startVirtualUsbmuxd({ iphone });
  try {
    const client = new UsbmuxdClient({ address: v.address });
    const connector = await UsbmuxdDeviceConnector.open({ client });
    const lockdown = await LockdownClient.connect(connector, { store: new UsbmuxdPairingStore(client) });
    await lockdown.pair();
    await lockdown.close();
    const full = await tool(v, 'ideviceinfo', ['-k', 'SerialNumber']);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(full.stdout.trim(), iphone.values.root.SerialNumber);
    assert.equal(iphone.lockdownd.pairedHosts.size, 1, 'libimobiledevice used our record instead of pairing again');
    assert.equal(iphone.productId, 0x12ab);
  } finally {
    await v.close();
  }
});
