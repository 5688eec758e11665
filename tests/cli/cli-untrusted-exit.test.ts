import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

// A refused session left the lockdown socket open: the CLI printed its error and never exited.
test('cli backup on a phone that no longer trusts this computer says so and exits', { timeout: 60_000 }, async () => {
  const iphone = new VirtualIPhone({ dataset: 'small' });
  const vu = await startVirtualUsbmuxd({ iphone });
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-untrusted-'));
  try {
    const env = { USBMUXD_SOCKET_ADDRESS: vu.address };
    assert.equal(await runCli(['pair'], { out: () => undefined, err: () => undefined }, env), 0);
    iphone.lockdownd.forgetHost();
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'backup', dir], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 30_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.notEqual(code, null, `the CLI did not exit; it printed: ${stderr}`);
    assert.equal(code, 1);
    assert.match(stderr, /no longer trusts this computer/);
  } finally {
    await vu.close();
    await rm(dir, { recursive: true, force: true });
  }
});
