import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.ts';
import { parseArgs, type CliCommand } from '../../src/cli/args.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function cli(argv: string[], env: Record<string, string | undefined> = {}, commands?: readonly CliCommand[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) }, env, commands);
  return { code, out, err };
}

for (const transport of ['unix', 'tcp'] as const) {
  test(`${transport}: devices lists the virtual iPhones through usbmuxd`, async () => {
    const vu = await startVirtualUsbmuxd({ tcp: transport === 'tcp' });
    try {
      vu.server.attach(new VirtualIPhone({ udid: '00008101-000A1B2C3D4E5F60', productId: 0x12ab }));
      const r = await cli(['devices'], { USBMUXD_SOCKET_ADDRESS: vu.address });
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(r.out.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/)), [
        ['UDID', 'CONNECTION', 'PRODUCT ID'],
        ['00008030-001A2B3C4D5E802E', 'USB', '0x12a8'],
        ['00008101-000A1B2C3D4E5F60', 'USB', '0x12ab'],
      ]);
      // --usbmuxd wins over the environment.
      const viaFlag = await cli(['devices', '--usbmuxd', vu.address], { USBMUXD_SOCKET_ADDRESS: 'UNIX:/nonexistent' });
      assert.equal(viaFlag.out, r.out);
    } finally {
      await vu.close();
    }
  });
}

test('devices says so when nothing is attached', async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    vu.server.detach(vu.iphone);
    const r = await cli(['devices'], { USBMUXD_SOCKET_ADDRESS: vu.address });
    assert.deepEqual(r, { code: 0, out: 'No devices attached.\n', err: '' });
  } finally {
    await vu.close();
  }
});

test('without usbmuxd the CLI prints error + action and exits 1', async () => {
  const sock = join(tmpdir(), 'lifeboat-cli-no-usbmuxd.sock');
  const r = await cli(['devices'], { USBMUXD_SOCKET_ADDRESS: `UNIX:${sock}` });
  assert.equal(r.code, 1);
  const [first, second] = r.err.split('\n');
  assert.equal(first, `error: usbmuxd is not running at UNIX:${sock} (ENOENT).`);
  assert.match(second ?? '', /USBMUXD_SOCKET_ADDRESS/);
});

test('help, unknown commands and per-command help', async () => {
  const help = await cli(['help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /^usage: npm run cli -- <command>/);
  assert.match(help.out, /\n {2}devices +List attached devices/);

  const none = await cli([]);
  assert.equal(none.code, 1);
  assert.match(none.err, /^usage:/);

  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /^error: unknown command "frobnicate"\n\nusage:/);

  const cmdHelp = await cli(['devices', '--help']);
  assert.equal(cmdHelp.code, 0);
  assert.match(cmdHelp.out, /^usage: npm run cli -- devices/);
  assert.equal((await cli(['help', 'devices'])).out, cmdHelp.out);
  assert.equal((await cli(['help', 'nope'])).code, 1);
});

test('a command that throws a LifeboatError or a plain error exits 1 with the message', async () => {
  const failing: CliCommand = {
    name: 'fail',
    summary: 'fails',
    usage: 'usage: fail',
    async run(args) {
      throw new Error(`boom ${args.positionals.join(',')}`);
    },
  };
  const r = await cli(['fail', 'a', 'b'], {}, [failing]);
  assert.deepEqual(r, { code: 1, out: '', err: 'error: boom a,b\n' });
});

test('argument parsing: values, switches, short aliases and --', () => {
  const a = parseArgs(['backup', '-u', 'UDID1', '--full', 'out/dir', '--password=secret', '--', '--literal'], ['help', 'full']);
  assert.equal(a.command, 'backup');
  assert.deepEqual(a.positionals, ['out/dir', '--literal']);
  assert.equal(a.string('udid'), 'UDID1');
  assert.equal(a.string('password'), 'secret');
  assert.equal(a.flag('full'), true);
  assert.equal(a.flag('help'), false);
  assert.throws(() => parseArgs(['x', '--full=yes'], ['full']), /--full does not take a value/);
  assert.throws(() => parseArgs(['x', '--udid']).string('udid'), /--udid needs a value/);
});

test('npm run cli -- devices works as a child process', async () => {
  const vu = await startVirtualUsbmuxd();
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'devices'], {
      cwd: root,
      env: { ...process.env, USBMUXD_SOCKET_ADDRESS: vu.address },
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(killer);
    assert.equal(code, 0);
    assert.match(out, /^00008030-001A2B3C4D5E802E +USB +0x12a8$/m);
  } finally {
    await vu.close();
  }
});
