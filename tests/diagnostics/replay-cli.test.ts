import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseVirtualIPhoneArgs, virtualIPhoneUsage } from '../../src/virtual-iphone/node/options.ts';

test('--replay TRACE is an option of npm run virtual-iphone', () => {
  assert.equal(parseVirtualIPhoneArgs(['--replay', 'session.trace']).replay, 'session.trace');
  assert.equal(parseVirtualIPhoneArgs([]).replay, undefined);
  assert.match(virtualIPhoneUsage(), /--replay TRACE/);
});

test('virtual-iphone --replay with a file that is not a trace stops with a message saying so', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-replay-cli-'));
  try {
    const file = join(dir, 'not-a.trace');
    await writeFile(file, '{"kind":"plist"}\n');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', 'src/virtual-iphone/node/main.ts', '--usbmuxd', `UNIX:${join(dir, 's.sock')}`, '--replay', file], { timeout: 30_000 }, (_e, _out, stderr) =>
        resolve({ code: child.exitCode, stderr }),
      );
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /error: The file does not start with a Lifeboat trace header\./);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
