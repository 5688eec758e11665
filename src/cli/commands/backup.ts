import { GLOBAL_OPTIONS_USAGE, type CliCommand, type ParsedArgs } from '../args.ts';
import { openDevice } from '../device.ts';
import { longRunning, megabytes, transferLine } from '../progress.ts';
import { LifeboatError } from '../../core/errors.ts';
import { LockdownClient } from '../../lockdown/lockdown-client.ts';
import { UsbmuxdPairingStore } from '../../lockdown/pairing-store.ts';
import { BackupEngine, type BackupProgress } from '../../backup/index.ts';
import { readBackupValues } from '../../backup/device-values.ts';
import { NodeFsBackupStore } from '../../stores/node/node-fs-backup-store.ts';

/** A paired lockdown session on the chosen device; the caller closes it. */
export async function openPairedLockdown(args: ParsedArgs): Promise<{ lockdown: LockdownClient; udid: string }> {
  const { connector, client } = await openDevice(args);
  const lockdown = await LockdownClient.connect(connector, { store: new UsbmuxdPairingStore(client), label: 'lifeboat-cli' });
  if ((await lockdown.loadPairing()) === null) {
    await lockdown.close();
    throw new LifeboatError('pairing-invalid', 'This computer is not paired with the device.', { action: 'Run `npm run cli -- pair` first.' });
  }
  try {
    await lockdown.startSession();
  } catch (error) {
    // A refused session ("no longer trusts this computer") must not leave the socket keeping the process alive.
    await lockdown.close().catch(() => undefined);
    throw error;
  }
  return { lockdown, udid: connector.device.udid };
}

const BACKUP_STAGES: Record<BackupProgress['stage'], string> = {
  preparing: 'Preparing',
  'waiting-for-passcode': 'Enter your passcode on the iPhone',
  'device-preparing': 'iPhone is preparing the backup',
  receiving: 'Receiving',
  finishing: 'Finishing',
  done: 'Done',
};

export const backupCommand: CliCommand = {
  name: 'backup',
  summary: 'Back up the device into OUT_DIR/<UDID>/ (Finder layout)',
  usage: [
    'usage: npm run cli -- backup OUT_DIR [--full]',
    '',
    'Writes OUT_DIR/<UDID>/ in the layout Finder and idevicebackup2 use. The previous backup stays',
    'intact until the new one is complete; an interrupted backup is resumed next time.',
    '  --full   ask the iPhone for a full backup instead of an incremental one',
    GLOBAL_OPTIONS_USAGE,
  ].join('\n'),
  flags: ['full'],
  async run(args: ParsedArgs): Promise<number> {
    const out = args.positionals[0];
    if (!out) {
      args.io.err('backup: OUT_DIR is required\n');
      return 2;
    }
    const store = await NodeFsBackupStore.open(out);
    const { lockdown, udid } = await openPairedLockdown(args);
    const run = longRunning(args);
    try {
      const values = await readBackupValues(lockdown);
      if (values.willEncrypt) args.io.out('Backup encryption is on: the iPhone encrypts this backup with its backup password.\n');
      const result = await BackupEngine.run({
        provider: lockdown,
        store,
        udid,
        deviceValues: values,
        full: args.flag('full'),
        signal: run.signal,
        onWarning: (w) => args.io.err(`warning: ${w}\n`),
        onProgress: (p) =>
          run.status(
            transferLine({
              stageText: BACKUP_STAGES[p.stage],
              percent: p.percent,
              bytes: p.bytesReceived,
              files: p.filesReceived,
              bytesPerSecond: p.bytesPerSecond,
              etaSeconds: p.stage === 'receiving' ? p.etaSeconds : null,
            }),
          ),
      });
      run.done();
      args.io.out(
        `Backup complete: ${result.filesReceived} files, ${megabytes(result.bytesReceived)} in ${(result.durationMs / 1000).toFixed(1)} s` +
          `${result.isFullBackup ? ' (full)' : ' (incremental)'}${result.encrypted ? ', encrypted' : ''} → ${store.root}/${udid}\n`,
      );
      return 0;
    } finally {
      run.done();
      await lockdown.close();
    }
  },
};
