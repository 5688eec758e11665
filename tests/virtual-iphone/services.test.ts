import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStreamPair } from '../../src/core/stream-pair.ts';
import { BufferedReader } from '../../src/core/buffered-reader.ts';
import type { ByteStream } from '../../src/core/byte-stream.ts';
import { isPlistDict, PlistConnection, PlistReal, type PlistValue } from '../../src/plist/index.ts';
import { installBackupServices, NOTIFICATIONS, type BackupServices } from '../../src/virtual-iphone/services/index.ts';
import type { ServiceHandler } from '../../src/virtual-iphone/virtual-iphone.ts';

const UDID = '00008030-001A2B3C4D5E802E';

function device(options: Parameters<typeof installBackupServices>[1] = {}): { services: BackupServices; connect(name: string): ByteStream } {
  const registry = new Map<string, ServiceHandler>();
  const values = { root: { ProductVersion: '17.5' }, domains: {} as Record<string, Record<string, PlistValue>> };
  const services = installBackupServices({ udid: UDID, values, registerService: (n, h) => registry.set(n, h) }, { dataset: 'small', seed: 9, ...options });
  return {
    services,
    connect(name) {
      const [host, dev] = createStreamPair();
      registry.get(name)!(dev);
      return host;
    },
  };
}

test('notification_proxy relays observed posts and answers Shutdown with ProxyDeath', async () => {
  const d = device();
  const conn = new PlistConnection(d.connect('com.apple.mobile.notification_proxy'));
  await conn.send({ Command: 'ObserveNotification', Name: 'com.example.ping' });
  await new Promise((r) => setTimeout(r, 10));
  d.services.notifications.post('com.example.other');
  d.services.notifications.post('com.example.ping');
  assert.deepEqual(await conn.receive(), { Command: 'RelayNotification', Name: 'com.example.ping' });
  await conn.send({ Command: 'PostNotification', Name: 'com.apple.itunes-mobdev.syncWillStart' });
  await conn.send({ Command: 'Shutdown' });
  assert.deepEqual(await conn.receive(), { Command: 'ProxyDeath' });
  assert.ok(d.services.notifications.posted.includes('com.apple.itunes-mobdev.syncWillStart'));
});

class AfcClient {
  private packet = 0n;
  private readonly reader: BufferedReader;
  constructor(private readonly stream: ByteStream) {
    this.reader = new BufferedReader(stream);
  }
  async call(op: number, headerData: Uint8Array, payload: Uint8Array = new Uint8Array(0)): Promise<{ op: number; data: Uint8Array }> {
    const out = new Uint8Array(40 + headerData.length + payload.length);
    const v = new DataView(out.buffer);
    out.set(new TextEncoder().encode('CFA6LPAA'));
    v.setBigUint64(8, BigInt(out.length), true);
    v.setBigUint64(16, BigInt(40 + headerData.length), true);
    v.setBigUint64(24, ++this.packet, true);
    v.setBigUint64(32, BigInt(op), true);
    out.set(headerData, 40);
    out.set(payload, 40 + headerData.length);
    await this.stream.write(out);
    const h = await this.reader.readExactly(40);
    const hv = new DataView(h.buffer, h.byteOffset, 40);
    assert.equal(hv.getBigUint64(24, true), this.packet, 'reply echoes the packet number');
    const data = (await this.reader.readExactly(Number(hv.getBigUint64(8, true)) - 40)).slice();
    return { op: Number(hv.getBigUint64(32, true)), data };
  }
  static u64(...values: number[]): Uint8Array {
    const b = new Uint8Array(values.length * 8);
    values.forEach((x, i) => new DataView(b.buffer).setBigUint64(i * 8, BigInt(x), true));
    return b;
  }
  static path(p: string, prefix: Uint8Array = new Uint8Array(0)): Uint8Array {
    return new Uint8Array([...prefix, ...new TextEncoder().encode(p), 0]);
  }
  static status(r: { op: number; data: Uint8Array }): number {
    assert.equal(r.op, 1);
    return Number(new DataView(r.data.buffer).getBigUint64(0, true));
  }
}

test('afc: file info, read, write, and the sync lock blocks a second host', async () => {
  const d = device();
  const a = new AfcClient(d.connect('com.apple.afc'));
  const b = new AfcClient(d.connect('com.apple.afc'));
  const info = await a.call(0x0a, AfcClient.path('/iTunes_Control/iTunes/IC-Info.sidb'));
  assert.equal(info.op, 2);
  assert.ok(new TextDecoder().decode(info.data).startsWith('st_size\u00001024\u0000'));
  assert.equal(AfcClient.status(await a.call(0x0a, AfcClient.path('/nope'))), 8);
  const open = async (c: AfcClient, mode: number, p: string): Promise<number> => {
    const r = await c.call(0x0d, AfcClient.path(p, AfcClient.u64(mode)));
    assert.equal(r.op, 0x0e);
    return Number(new DataView(r.data.buffer).getBigUint64(0, true));
  };
  const ha = await open(a, 2, '/com.apple.itunes.lock_sync');
  const hb = await open(b, 2, '/com.apple.itunes.lock_sync');
  assert.equal(AfcClient.status(await a.call(0x1b, AfcClient.u64(ha, 6))), 0);
  assert.equal(AfcClient.status(await b.call(0x1b, AfcClient.u64(hb, 6))), 19, 'OP_WOULD_BLOCK while another host holds it');
  assert.equal(AfcClient.status(await a.call(0x1b, AfcClient.u64(ha, 12))), 0);
  assert.equal(AfcClient.status(await b.call(0x1b, AfcClient.u64(hb, 6))), 0);
  assert.equal(AfcClient.status(await a.call(0x09, AfcClient.path('/iTunesRestore'))), 0);
  const hw = await open(a, 3, '/iTunesRestore/RestoreApplications.plist');
  assert.equal(AfcClient.status(await a.call(0x10, AfcClient.u64(hw), new TextEncoder().encode('hello'))), 0);
  assert.equal(AfcClient.status(await a.call(0x14, AfcClient.u64(hw))), 0);
  const hr = await open(a, 1, '/iTunesRestore/RestoreApplications.plist');
  assert.equal(new TextDecoder().decode((await a.call(0x0f, AfcClient.u64(hr, 65536))).data), 'hello');
  const list = new TextDecoder().decode((await a.call(0x03, AfcClient.path('/iTunesRestore'))).data).split('\0');
  assert.ok(list.includes('RestoreApplications.plist'));
  assert.equal(AfcClient.status(await a.call(0x08, AfcClient.path('/iTunesRestore'))), 33, 'non-empty dir');
});

test('installation_proxy pages apps; springboardservices returns a real PNG', async () => {
  const d = device({ dataset: 'medium', seed: 9 });
  const ip = new PlistConnection(d.connect('com.apple.mobile.installation_proxy'));
  await ip.send({ Command: 'Browse', ClientOptions: { ApplicationType: 'User', ReturnAttributes: ['CFBundleIdentifier', 'ApplicationSINF', 'iTunesMetadata'] } });
  const seen: string[] = [];
  for (;;) {
    const m = await ip.receive();
    assert.ok(isPlistDict(m));
    if (m['Status'] === 'Complete') break;
    assert.equal(m['Status'], 'BrowsingApplications');
    for (const app of m['CurrentList'] as PlistValue[]) {
      assert.ok(isPlistDict(app) && Object.keys(app).sort().join() === 'ApplicationSINF,CFBundleIdentifier,iTunesMetadata');
      seen.push(app['CFBundleIdentifier'] as string);
    }
  }
  assert.equal(seen.length, (await d.services.dataset()).apps.length);
  const sb = new PlistConnection(d.connect('com.apple.springboardservices'));
  await sb.send({ command: 'getIconPNGData', bundleId: seen[0]! });
  const icon = await sb.receive();
  assert.ok(isPlistDict(icon) && icon['pngData'] instanceof Uint8Array);
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-png-'));
  try {
    writeFileSync(join(dir, 'i.png'), icon['pngData'] as Uint8Array);
    assert.match(execFileSync('/usr/bin/file', ['-b', join(dir, 'i.png')]).toString(), /PNG image data, 60 x 60, 8-bit\/color RGBA/);
    execFileSync('/usr/bin/gdk-pixbuf-thumbnailer', ['-s', '32', join(dir, 'i.png'), join(dir, 't.png')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A minimal DeviceLink host: answers the device's requests, discards uploads, reports `free` bytes. */
async function runHost(stream: ByteStream, request: PlistValue, free: number, log: string[]): Promise<PlistValue> {
  const conn = new PlistConnection(stream);
  const status = (code: number, payload: PlistValue = {}): Promise<void> => conn.send(['DLMessageStatusResponse', code, '___EmptyParameterString___', payload], 'binary');
  await conn.send(['DLMessageProcessMessage', request], 'binary');
  for (;;) {
    const m = (await conn.receive()) as PlistValue[];
    const name = m[0] as string;
    log.push(name);
    if (name === 'DLMessageProcessMessage') return m[1]!;
    if (name === 'DLMessageDownloadFiles') {
      for (const p of m[1] as string[]) {
        const bytes = new TextEncoder().encode(p);
        const err = new TextEncoder().encode('No such file');
        const frame = new Uint8Array(4 + bytes.length + 5 + err.length);
        const v = new DataView(frame.buffer);
        v.setUint32(0, bytes.length);
        frame.set(bytes, 4);
        v.setUint32(4 + bytes.length, err.length + 1);
        frame[8 + bytes.length] = 6;
        frame.set(err, 9 + bytes.length);
        await conn.write(frame);
      }
      await conn.write(new Uint8Array(4));
      await status(-13, {});
    } else if (name === 'DLMessageUploadFiles') {
      for (;;) {
        const n = await conn.reader.readUint32BE();
        if (n === 0) break;
        await conn.reader.readExactly(n);
        await conn.reader.readExactly(await conn.reader.readUint32BE());
        for (;;) {
          const len = await conn.reader.readUint32BE();
          const code = (await conn.reader.readExactly(1))[0];
          if (len > 1) await conn.reader.readExactly(len - 1);
          if (code !== 0x0c) break;
        }
      }
      await status(0);
    } else if (name === 'DLMessageGetFreeDiskSpace') await status(0, free);
    else if (name === 'DLMessagePurgeDiskSpace') await status(-1);
    else await status(0);
  }
}

async function handshake(stream: ByteStream): Promise<PlistConnection> {
  const conn = new PlistConnection(stream);
  assert.deepEqual(await conn.receive(), ['DLMessageVersionExchange', 400, 0]);
  await conn.send(['DLMessageVersionExchange', 'DLVersionsOk', 400], 'binary');
  assert.deepEqual(await conn.receive(), ['DLMessageDeviceReady']);
  return conn;
}

test('mobilebackup2: Hello negotiates 2.1, refuses unknown versions, answers unknown requests', async () => {
  const d = device();
  const conn = await handshake(d.connect('com.apple.mobilebackup2'));
  await conn.send(['DLMessageProcessMessage', { MessageName: 'Hello', SupportedProtocolVersions: [new PlistReal(2), new PlistReal(2.1)] }]);
  const ok = (await conn.receive()) as PlistValue[];
  assert.equal(ok[0], 'DLMessageProcessMessage');
  assert.ok(isPlistDict(ok[1]) && ok[1]['ErrorCode'] === 0 && ok[1]['ProtocolVersion'] === 2.1);
  await conn.send(['DLMessageProcessMessage', { MessageName: 'Hello', SupportedProtocolVersions: [new PlistReal(9)] }]);
  const no = (await conn.receive()) as PlistValue[];
  assert.ok(isPlistDict(no[1]) && no[1]['ErrorCode'] === 1);
  await conn.send(['DLMessageProcessMessage', { MessageName: 'Frobnicate' }]);
  const unknown = (await conn.receive()) as PlistValue[];
  assert.ok(isPlistDict(unknown[1]) && unknown[1]['ErrorCode'] === 1 && typeof unknown[1]['ErrorDescription'] === 'string');
  await conn.send(['DLMessageDisconnect', '___EmptyParameterString___']);
});

test('mobilebackup2: too little host space → PurgeDiskSpace then ErrorCode 105', async () => {
  const d = device();
  const stream = d.connect('com.apple.mobilebackup2');
  await handshake(stream);
  const log: string[] = [];
  const result = await runHost(stream, { MessageName: 'Backup', TargetIdentifier: UDID }, 1_000_000, log);
  assert.ok(isPlistDict(result) && result['ErrorCode'] === 105);
  assert.deepEqual(log.slice(0, 4), ['DLMessageDownloadFiles', 'DLMessageGetFreeDiskSpace', 'DLMessagePurgeDiskSpace', 'DLMessageGetFreeDiskSpace']);
});

test('mobilebackup2: passcode sheet → 208 on timeout, backup proceeds once entered', async () => {
  const d = device({ passcode: { timeoutMs: 50 } });
  const posted: string[] = [];
  d.services.notifications.subscribe((n) => posted.push(n));
  const s1 = d.connect('com.apple.mobilebackup2');
  await handshake(s1);
  const r1 = await runHost(s1, { MessageName: 'Backup', TargetIdentifier: UDID }, 1e12, []);
  assert.ok(isPlistDict(r1) && r1['ErrorCode'] === 208);
  assert.deepEqual(posted, [NOTIFICATIONS.passcodePresented, NOTIFICATIONS.passcodeDismissed]);

  const d2 = device({ passcode: { timeoutMs: 10_000 } });
  d2.services.notifications.subscribe((n) => n === NOTIFICATIONS.passcodePresented && setTimeout(() => d2.services.passcode!.enter(), 5));
  const s2 = d2.connect('com.apple.mobilebackup2');
  await handshake(s2);
  const log: string[] = [];
  const r2 = await runHost(s2, { MessageName: 'Backup', TargetIdentifier: UDID }, 1e12, log);
  assert.ok(isPlistDict(r2) && r2['ErrorCode'] === 0, JSON.stringify(r2));
  assert.ok(log.includes('DLMessageUploadFiles') && log.includes('DLMessageMoveItems') && log.includes('DLMessageRemoveItems'));
});

test('mobilebackup2: unplug fault cuts the link mid-upload', async () => {
  const d = device({ faults: { unplugAtByte: 300_000 } });
  const stream = d.connect('com.apple.mobilebackup2');
  await handshake(stream);
  await assert.rejects(runHost(stream, { MessageName: 'Backup', TargetIdentifier: UDID }, 1e12, []), /closed/);
});
