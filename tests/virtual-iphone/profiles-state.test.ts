import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.ts';
import { NAMED_PROFILES } from '../../src/virtual-iphone/profiles.ts';
import { DEVICE_MODELS } from '../../src/virtual-iphone/profile.ts';
import { productName } from '../../src/core/product-names.ts';
import type { TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = join(root, 'src/virtual-iphone/node/main.ts');

function tool(file: string, args: string[], address: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: address }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

/** `npm run virtual-iphone -- ARGS` without npm; resolves once it serves, with a stop function. */
async function serve(args: string[]): Promise<{ address: string; output: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`virtual-iphone did not start: ${output}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const found = /USBMUXD_SOCKET_ADDRESS=(\S+)/.exec(output)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    void exited.then(() => reject(new Error(`virtual-iphone exited: ${output}`)));
  });
  return {
    address,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const waitFor = async (check: () => boolean, what: string): Promise<void> => {
  for (let waited = 0; !check(); waited += 50) {
    assert.ok(waited < 15_000, what);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

test('--list-profiles prints at least ten names, one a line', async () => {
  const listed = await new Promise<string>((resolve) => execFile(process.execPath, ['--import', 'tsx', main, '--list-profiles'], { cwd: root }, (_e, out) => resolve(out)));
  const names = listed.trim().split('\n');
  assert.deepEqual(names, NAMED_PROFILES.map((p) => p.name));
  assert.ok(names.length >= 10);
});

test('the host knows every profile model by its name (the UI showed "iPhone9,3")', () => {
  for (const model of DEVICE_MODELS) assert.equal(productName(model.productType), model.marketingName, model.productType);
});

test('options next to --profile win over its settings', () => {
  const iphone = new VirtualIPhone({ profile: 'ios12-iphonex', productVersion: '13.7', deviceName: 'Test X' });
  assert.equal(iphone.values.root['ProductType'], 'iPhone10,6');
  assert.equal(iphone.values.root['ProductVersion'], '13.7');
  assert.equal(iphone.values.root['DeviceName'], 'Test X');
  assert.equal(iphone.udid, '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c', "the profile's 40-digit UDID");
  assert.throws(() => new VirtualIPhone({ profile: 'no-such-profile' }), /Unknown profile "no-such-profile"; known: ios10\.1-iphone7/);
});

test('--state keeps the trust and the keybag across a restart; --truth follows encryption', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-vi-state-'));
  const truthFile = join(dir, 'truth.json');
  const args = ['--usbmuxd', `UNIX:${join(dir, 'usbmuxd.sock')}`, '--state', join(dir, 'state'), '--truth', truthFile, '--profile', 'ios17-devicelink'];
  try {
    const first = await serve(args);
    try {
      assert.equal((await tool('/usr/bin/idevicepair', ['pair'], first.address)).code, 0);
      const readTruth = (): TruthEntry[] => JSON.parse(readFileSync(truthFile, 'utf8')) as TruthEntry[];
      assert.ok(!readTruth().some((e) => e.domain === 'KeychainDomain'), 'no keychain in a plain backup');
      const on = await tool('/usr/bin/idevicebackup2', ['encryption', 'on', 'pw', dir], first.address);
      assert.match(on.out, /enabled/, on.out);
      await waitFor(() => /Wrote \d+ truth entries[^]*Wrote \d+ truth entries/.test(first.output()), 'truth rewritten');
      assert.ok(readTruth().some((e) => e.domain === 'KeychainDomain'), 'the truth now describes an encrypted backup');
      await new Promise((resolve) => setTimeout(resolve, 400)); // the device side saves within 250 ms
    } finally {
      await first.stop();
    }
    const second = await serve(args);
    try {
      const validate = await tool('/usr/bin/idevicepair', ['validate'], second.address);
      assert.equal(validate.code, 0, `the restarted phone still trusts this computer: ${validate.out}`);
      const info = await tool('/usr/bin/ideviceinfo', ['-q', 'com.apple.mobile.backup', '-k', 'WillEncrypt'], second.address);
      assert.match(info.out, /true/, 'and still encrypts its backups');
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--state: a phone stopped as soon as a backup ends still files the rows it sent; restarted, it backs up incrementally and files the next', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-vi-records-'));
  const args = ['--usbmuxd', `UNIX:${join(dir, 'usbmuxd.sock')}`, '--state', join(dir, 'state'), '--seed', '4'];
  let fullFiles = 0;
  const records = (): string[] => readdirSync(join(dir, 'state')).filter((name) => /^virtual-iphone-.*-sent-[0-9a-f]{64}\.bin$/.test(name));
  try {
    const first = await serve(args);
    try {
      assert.equal((await tool('/usr/bin/idevicepair', ['pair'], first.address)).code, 0);
      const full = await tool('/usr/bin/idevicebackup2', ['backup', dir], first.address);
      assert.match(full.out, /Backup Successful/, full.out);
      fullFiles = Number(/Received (\d+) files/.exec(full.out)?.[1]);
    } finally {
      await first.stop(); // at once: the record is made after the host has its answer
    }
    assert.equal(records().length, 1, 'the record was filed before the phone stopped');
    const second = await serve([...args, '--mutate', '3']);
    try {
      const next = await tool('/usr/bin/idevicebackup2', ['backup', dir], second.address);
      assert.match(next.out, /Backup Successful/, next.out);
      const received = Number(/Received (\d+) files/.exec(next.out)?.[1]);
      assert.ok(received < fullFiles / 4, `an incremental: ${received} of ${fullFiles} files`);
    } finally {
      await second.stop();
    }
    assert.equal(records().length, 2, 'and the updated database’s rows too');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ios18-error-shapes: a failure without ErrorDescription, and a DLMessageDisconnect with a reason, reach the person', async () => {
  const iphone = new VirtualIPhone({ profile: 'ios18-error-shapes', kdf: { dpic: 1000, iter: 10 } });
  const v = await startVirtualUsbmuxd({ iphone });
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-vi-errors-'));
  const cli = async (argv: string[]): Promise<{ code: number; err: string }> => {
    let err = '';
    const code = await runCli(argv, { out: () => {}, err: (t) => (err += t) }, { USBMUXD_SOCKET_ADDRESS: v.address });
    return { code, err };
  };
  try {
    assert.equal((await cli(['pair'])).code, 0);
    iphone.backup.state.faults.errorCode = 212;
    const codeOnly = await cli(['backup', dir]);
    assert.notEqual(codeOnly.code, 0);
    assert.match(codeOnly.err, /212/, codeOnly.err);
    iphone.backup.state.behaviour.errorShape = 'disconnect';
    const disconnected = await cli(['backup', dir]);
    assert.notEqual(disconnected.code, 0);
    assert.match(disconnected.err, /Injected failure 212/, `the device's reason is shown: ${disconnected.err}`);
    const ib2 = await tool('/usr/bin/idevicepair', ['pair'], v.address);
    assert.equal(ib2.code, 0);
    iphone.backup.state.behaviour.errorShape = 'code-only';
    const theirs = await tool('/usr/bin/idevicebackup2', ['backup', dir], v.address);
    assert.match(theirs.out, /ErrorCode 212: \(Unknown\)/, 'idevicebackup2 sees the same shape');
  } finally {
    await v.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
