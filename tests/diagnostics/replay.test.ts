import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stableIdentifierHash } from '../../src/diagnostics/redact.ts';
import { parseTrace } from '../../src/diagnostics/trace-format.ts';
import { decodePlist, type PlistDict } from '../../src/plist/index.ts';
import { ReplayMismatchError } from '../../src/virtual-iphone/replay/replay-errors.ts';
import { LockdownClient } from '../../src/lockdown/lockdown-client.ts';
import { UsbmuxdPairingStore } from '../../src/lockdown/pairing-store.ts';
import { UsbmuxdClient } from '../../src/usbmux/node/usbmuxd-client.ts';
import { UsbmuxdDeviceConnector } from '../../src/usbmux/node/usbmuxd-device-connector.ts';
import { recordSession, sessionSteps } from './record-session.ts';
import { startReplay } from './replay-session.ts';

test('replay: a recorded pair + backup + restore session replays against the CLI; a host that departs fails naming the message', async () => {
  const session = await recordSession();
  const out = await mkdtemp(join(tmpdir(), 'lifeboat-replayed-'));
  try {
    const replay = await startReplay(session);
    try {
      const udid = stableIdentifierHash(session.udid);
      assert.equal(replay.device.iphone.udid, udid, 'the replay device is the trace device, by its hashed UDID');
      const [pair, , restore] = sessionSteps(join(out, 'b'), undefined);
      assert.equal((await replay.run(pair!)).code, 0);
      const backup = await replay.run(['backup', join(out, 'b')]);
      assert.equal(backup.code, 0, backup.err);
      assert.match(backup.out, /Backup complete: \d+ files/);
      const status = decodePlist(await readFile(join(out, 'b', udid, 'Status.plist'))) as PlistDict;
      assert.equal(status.SnapshotState, 'finished');
      const restored = await replay.run(['restore', await replay.restoreSource(), ...restore!.slice(2)]);
      assert.equal(restored.code, 0, restored.err);
      assert.match(restored.out, /Restore complete/);
      assert.deepEqual(replay.device.failures, []);
      assert.equal(replay.device.connectionsLeft, 0, 'the host opened every recorded connection');
    } finally {
      await replay.close();
    }

    // A changed host: after pairing it turns encryption on where the recorded host backed up.
    const changed = await startReplay(session);
    try {
      assert.equal((await changed.run(['pair'])).code, 0);
      const r = await changed.run(['encryption', 'on', 'pw']);
      assert.notEqual(r.code, 0, 'the host fails when the replay device stops');
      const failure = changed.device.firstFailure;
      assert.ok(failure instanceof ReplayMismatchError, String(failure));
      assert.match(
        failure.message,
        /^Replay: host sent Request GetValue\{Domain: com\.apple\.mobile\.backup, Key: WillEncrypt\} as message \d+ on connection 1 \(lockdown\) of session 2; the trace's device expected Request GetValue \(trace line (\d+)\)\.$/,
      );
      // The line it names is that message in the trace.
      const line = Number(/trace line (\d+)/.exec(failure.message)![1]);
      const event = JSON.parse(session.trace.split('\n')[line - 1]!) as { kind: string; dir: string; name: string };
      assert.deepEqual([event.kind, event.dir, event.name], ['plist', 'host', 'Request GetValue']);

      // A lockdown host hears the mismatch as the answer to the departing request.
      const client = new UsbmuxdClient({ address: changed.usbmuxd.address });
      const lockdown = await LockdownClient.connect(await UsbmuxdDeviceConnector.open({ client }), { store: new UsbmuxdPairingStore(client) });
      await assert.rejects(
        lockdown.queryType(),
        /^LockdownError: The device refused QueryType: Replay: host sent Request QueryType as message 2 on connection \d+ \(lockdown\) of session \d+; the trace's device expected Request StartSession/,
      );
      await lockdown.close();
    } finally {
      await changed.close();
    }
    assert.equal(parseTrace(session.trace).length, 3);
  } finally {
    await rm(out, { recursive: true, force: true });
    await session.cleanup();
  }
});
