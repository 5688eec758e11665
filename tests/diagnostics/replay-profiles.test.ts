import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordSession, sessionSteps } from './record-session.ts';
import { startReplay } from './replay-session.ts';

/**
 * Traces recorded from device profiles that differ in protocol behaviour (protocol 2.0 and old
 * DeviceLink names without a ManifestKey, encrypted; a passcode prompt; an iPad) replay against the CLI.
 */
const PROFILES: { name: string; password?: string }[] = [
  { name: 'ios10.1-iphone7', password: 'pw-replay' },
  { name: 'ios16.1-passcode' },
  { name: 'ipados17-ipad' },
];

async function recordAndReplay(name: string, password: string | undefined): Promise<void> {
  const session = await recordSession({ profile: name, password });
  const out = await mkdtemp(join(tmpdir(), 'lifeboat-replayed-'));
  try {
    const replay = await startReplay(session);
    try {
      const steps = sessionSteps(join(out, 'b'), password);
      const restore = steps[steps.length - 1]!;
      for (const step of steps.slice(0, -1)) {
        const r = await replay.run(step);
        assert.equal(r.code, 0, `${name}: replayed \`${step.join(' ')}\`: ${r.err}`);
        if (step[0] === 'backup') assert.match(r.out, /Backup complete: \d+ files/, name);
      }
      const restored = await replay.run(['restore', await replay.restoreSource(), ...restore.slice(2)]);
      assert.equal(restored.code, 0, `${name}: replayed restore: ${restored.err}`);
      assert.match(restored.out, /Restore complete/, name);
      assert.deepEqual(replay.device.failures, [], `${name}: replay failures`);
      assert.equal(replay.device.connectionsLeft, 0, `${name}: the host opened every recorded connection`);
    } finally {
      await replay.close();
    }
  } finally {
    await rm(out, { recursive: true, force: true });
    await session.cleanup();
  }
}

test('replay: sessions recorded from several device profiles replay', { concurrency: 3, timeout: 120_000 }, async (t) => {
  await Promise.all(PROFILES.map(({ name, password }) => t.test(name, () => recordAndReplay(name, password))));
});
