import { hash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { LifeboatError } from '../../core/errors.ts';
import { UsbmuxdServer } from '../usbmuxd/usbmuxd-server.ts';
import { STREAMED_TRUTH_SIZES } from '../dataset/dataset.ts';
import { writeTruthLines } from '../dataset/truth-lines.ts';
import { VirtualIPhone } from '../virtual-iphone.ts';
import { ReplayDevice } from '../replay/replay-device.ts';
import { parseVirtualIPhoneArgs, virtualIPhoneUsage } from './options.ts';
import { NAMED_PROFILES } from '../profiles.ts';
import { BackupRecordFiles } from './backup-record-files.ts';
import { DeviceStateFile } from './device-state-file.ts';
import { useSha1Hex } from '../services/mobilebackup2/backup-files.ts';
import { resolveUdid } from '../virtual-iphone.ts';

/**
 * `npm run virtual-iphone`: a simulated iPhone that libimobiledevice's tools and Lifeboat's CLI can
 * reach through USBMUXD_SOCKET_ADDRESS. Serves until SIGINT/SIGTERM (or, under npm, until npm is killed),
 * then removes its socket.
 */
async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseVirtualIPhoneArgs(argv);
  } catch (error) {
    reportError(error);
    process.stderr.write(`${virtualIPhoneUsage()}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${virtualIPhoneUsage()}\n`);
    return 0;
  }

  if (parsed.listProfiles) {
    process.stdout.write(NAMED_PROFILES.map((p) => `${p.name}\n`).join(''));
    return 0;
  }

  useSha1Hex((text) => hash('sha1', text, 'hex'));

  // The phone's own memory (key, trusted hosts, keybag) survives a restart with the same --state.
  // A replay is the recorded device itself: it has no memory of its own to keep.
  const deviceState = parsed.state && parsed.replay === undefined ? DeviceStateFile.open(parsed.state, resolveUdid(parsed.iphoneOptions)) : undefined;
  // And the rows of the Manifest.db files it sent, so that a restarted phone need not read them back.
  const backupRecords = deviceState ? new BackupRecordFiles(parsed.state!, resolveUdid(parsed.iphoneOptions)) : undefined;
  const iphone =
    parsed.replay !== undefined
      ? await replayIPhone(parsed.replay)
      : new VirtualIPhone({
          ...parsed.iphoneOptions,
          ...(deviceState && backupRecords ? { deviceKey: deviceState.deviceKey(), backupRecords } : {}),
        });
  if (deviceState) {
    await deviceState.restoreInto(iphone);
    await deviceState.saveIfChanged(iphone);
    setInterval(() => void deviceState.saveIfChanged(iphone), 250).unref();
    iphone.lockdownd.onTrustChange(() => void deviceState.saveIfChanged(iphone));
  }
  const truthFile = parsed.replay === undefined ? parsed.truth : undefined;
  if (truthFile) {
    // What a backup made now would contain: rewritten whenever encryption or the data change.
    const writeTruth = async (): Promise<void> => {
      await iphone.backup.ready;
      const dataset = await iphone.backup.dataset();
      const encrypted = iphone.backup.state.encryption !== null;
      // A huge dataset's truth is one JSON entry per line: one array of 1.3M entries would not fit a string.
      if (STREAMED_TRUTH_SIZES.includes(dataset.size)) {
        const count = await writeTruthLines(dataset, encrypted, `${truthFile}.tmp`);
        renameSync(`${truthFile}.tmp`, truthFile);
        process.stdout.write(`Wrote ${count} truth entries (JSON lines) to ${truthFile}\n`);
        return;
      }
      const truth = await dataset.truth(encrypted);
      writeFileSync(`${truthFile}.tmp`, JSON.stringify(truth, null, 1));
      renameSync(`${truthFile}.tmp`, truthFile);
      process.stdout.write(`Wrote ${truth.length} truth entries to ${truthFile}\n`);
    };
    await writeTruth();
    let writing = Promise.resolve();
    iphone.backup.onChange(() => {
      writing = writing.then(writeTruth).catch(reportError);
    });
  }
  const server = new UsbmuxdServer(parsed.state ? { stateDir: parsed.state } : {});
  server.attach(iphone);
  const address = await server.listen(parsed.usbmuxd);
  process.stdout.write(
    `Virtual iPhone ${iphone.udid} is serving at ${address} — point tools at it with: USBMUXD_SOCKET_ADDRESS=${address} ideviceinfo\n`,
  );

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // `npm run virtual-iphone`: npm passes a kill on to its `sh -c`, which dies without passing it on,
    // leaving this process orphaned. Started by npm, being re-parented means "stop".
    if (process.env['npm_lifecycle_event'] === 'virtual-iphone') {
      const parent = process.ppid;
      setInterval(() => {
        if (process.ppid !== parent) stop();
      }, 500).unref();
    }
  });
  await server.close();
  if (deviceState) await deviceState.saveIfChanged(iphone);
  // A record still being made when the phone is told to stop (it starts once the host has its answer).
  await backupRecords?.settled();
  return 0;
}

/** `--replay TRACE`: the trace's device; each failure (the first differing message) goes to stderr. */
async function replayIPhone(file: string): Promise<VirtualIPhone> {
  const replay = ReplayDevice.fromTrace(await readFile(file, 'utf8'), { onFailure: reportError });
  process.stdout.write(`Replaying ${file}.\n`);
  return replay.iphone;
}

function reportError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  if (error instanceof LifeboatError && error.action) process.stderr.write(`${error.action}\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    reportError(error);
    process.exit(1);
  },
);
