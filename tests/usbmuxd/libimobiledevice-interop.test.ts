import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { decodePlist, isPlistDict } from '../../src/plist/index.ts';
import { UsbmuxdClient } from '../../src/usbmux/node/usbmuxd-client.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

const IDEVICE_ID = '/usr/bin/idevice_id';

function run(file: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 10_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('Debian libimobiledevice 1.3.0 is installed (idevice_id)', () => {
  assert.ok(existsSync(IDEVICE_ID), `${IDEVICE_ID} is missing: apt-get install libimobiledevice-utils`);
});

for (const transport of ['unix', 'tcp'] as const) {
  test(`${transport}: Debian's idevice_id -l lists the virtual iPhone through USBMUXD_SOCKET_ADDRESS`, async () => {
    const vu = await startVirtualUsbmuxd({ tcp: transport === 'tcp' });
    try {
      const result = await run(IDEVICE_ID, ['-l'], { USBMUXD_SOCKET_ADDRESS: vu.address });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(result.stdout.trim().split('\n'), [vu.iphone.udid]);
    } finally {
      await vu.close();
    }
  });
}

test("idevice_id -l lists nothing once the device is unplugged", async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    vu.server.detach(vu.iphone);
    const result = await run(IDEVICE_ID, ['-l'], { USBMUXD_SOCKET_ADDRESS: vu.address });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), '');
  } finally {
    await vu.close();
  }
});

test("libusbmuxd's inetcat reaches a device port through Connect (port sent in network byte order)", async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    const PORT = 62001; // 0xF231: byte-swapped it would be 0x31F2 = 12786, so a wrong swap is refused
    let connections = 0;
    vu.iphone.ports.listen(PORT, (stream) => {
      connections++;
      void (async () => {
        for (;;) {
          const chunk = await stream.read();
          if (chunk === null) break;
          await stream.write(Uint8Array.from(chunk, (b) => (b >= 0x61 && b <= 0x7a ? b - 32 : b)));
        }
        await stream.close();
      })();
    });
    const child = spawn('/usr/bin/inetcat', [String(PORT)], {
      env: { ...process.env, USBMUXD_SOCKET_ADDRESS: vu.address },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const echoed = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.length >= 12) resolve();
      });
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.write('hello device');
    await Promise.race([echoed, exited]);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(killer);
    assert.equal(stdout, 'HELLO DEVICE', stderr);
    assert.equal(connections, 1);
  } finally {
    await vu.close();
  }
});

test("Debian's ideviceinfo pairs through the server's pair records (ReadBUID, SavePairRecord, ReadPairRecord)", async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    const env = { USBMUXD_SOCKET_ADDRESS: vu.address };
    const plain = await run('/usr/bin/ideviceinfo', ['-s', '-k', 'UniqueDeviceID'], env);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout.trim(), vu.iphone.udid);

    const client = new UsbmuxdClient({ address: vu.address });
    assert.equal(await client.readPairRecord(vu.iphone.udid), null, 'not paired yet');
    const paired = await run('/usr/bin/ideviceinfo', ['-k', 'UniqueDeviceID'], env);
    assert.equal(paired.code, 0, paired.stderr);
    assert.equal(paired.stdout.trim(), vu.iphone.udid);

    const bytes = await client.readPairRecord(vu.iphone.udid);
    assert.ok(bytes, 'libimobiledevice saved its pair record through SavePairRecord');
    const record = decodePlist(bytes);
    assert.ok(isPlistDict(record));
    assert.equal(record['SystemBUID'], await client.readBuid(), 'the record carries the server BUID');
    assert.equal(typeof record['HostID'], 'string');
    assert.ok(record['HostPrivateKey'] instanceof Uint8Array);

    // The second run reuses the stored record instead of pairing again.
    const again = await run('/usr/bin/ideviceinfo', ['-k', 'UniqueDeviceID'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await client.readPairRecord(vu.iphone.udid), bytes);
  } finally {
    await vu.close();
  }
});
