import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsbmuxdClient } from '../../src/usbmux/node/usbmuxd-client.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The `virtual-iphone` npm script's own command line, run without npm and sh in between: npm's shell
 * does not pass SIGTERM on, and the point here is what the server does with the signal.
 */
function virtualIPhoneCommand(): [string, string[]] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [program, ...args] = pkg.scripts['virtual-iphone']!.split(/\s+/);
  assert.equal(program, 'node');
  return [process.execPath, args];
}

interface Served {
  child: ChildProcessWithoutNullStreams;
  address: string;
  line: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the virtual-iphone script and waits for its "point tools at it" line. */
async function startVirtualIPhoneProcess(args: string[]): Promise<Served> {
  const [program, scriptArgs] = virtualIPhoneCommand();
  const child = spawn(program, [...scriptArgs, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`virtual-iphone did not start: ${stderr}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const nl = stdout.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        resolve(stdout.slice(0, nl));
      }
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`virtual-iphone exited early: ${stderr}`));
    });
  });
  const address = /USBMUXD_SOCKET_ADDRESS=(\S+)/.exec(line)?.[1];
  assert.ok(address, `no address in "${line}"`);
  return { child, address, line, exit };
}

function runTool(file: string, args: string[], address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: address }, timeout: 15_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
    );
  });
}

async function stop(served: Served, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const killer = setTimeout(() => served.child.kill('SIGKILL'), 10_000);
  served.child.kill(signal);
  const result = await served.exit;
  clearTimeout(killer);
  return result;
}

test('npm run virtual-iphone serves a unix socket until SIGTERM, then removes it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-vi-main-'));
  const socketPath = join(dir, 'vi.sock');
  try {
    const udid = '00008110-0011223344556677';
    const served = await startVirtualIPhoneProcess(['--usbmuxd', `UNIX:${socketPath}`, '--udid', udid, '--model', 'iPhone15,2', '--ios', '17.5']);
    try {
      assert.equal(served.address, `UNIX:${socketPath}`);
      assert.match(served.line, /USBMUXD_SOCKET_ADDRESS=UNIX:\S+ ideviceinfo/);
      assert.ok(existsSync(socketPath));
      const devices = await new UsbmuxdClient({ address: served.address }).listDevices();
      assert.deepEqual(devices.map((d) => d.udid), [udid]);
      // --model and --ios reach the device profile: Debian's ideviceinfo reads them from lockdownd.
      const info = await runTool('/usr/bin/ideviceinfo', ['-s', '-k', 'ProductType'], served.address);
      assert.equal(info.trim(), 'iPhone15,2');
      const ios = await runTool('/usr/bin/ideviceinfo', ['-s', '-k', 'ProductVersion'], served.address);
      assert.equal(ios.trim(), '17.5');
    } finally {
      const result = await stop(served, 'SIGTERM');
      assert.deepEqual(result, { code: 0, signal: null });
    }
    assert.equal(existsSync(socketPath), false, 'socket removed after SIGTERM');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run virtual-iphone serves TCP on an OS-chosen port and keeps state in --state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-vi-main-'));
  try {
    const served = await startVirtualIPhoneProcess(['--usbmuxd', '127.0.0.1:0', '--state', dir]);
    try {
      assert.match(served.address, /^127\.0\.0\.1:[1-9]\d*$/);
      const client = new UsbmuxdClient({ address: served.address });
      const [device] = await client.listDevices();
      assert.ok(device);
      await client.savePairRecord(device.udid, new TextEncoder().encode('<plist/>'));
      assert.ok(existsSync(join(dir, `${device.udid}.plist`)));
      assert.ok(existsSync(join(dir, 'SystemConfiguration.plist')));
    } finally {
      assert.deepEqual(await stop(served, 'SIGINT'), { code: 0, signal: null });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
