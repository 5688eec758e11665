import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { GLOBAL_OPTIONS_USAGE, UsageError, type CliCommand, type ParsedArgs } from '../args.ts';
import { openPairedLockdown } from './backup.ts';
import { longRunning, megabytes, transferLine } from '../progress.ts';
import { NodeFsSource } from '../../library/node/fs-source.ts';
import { META_DIR } from '../../stores/versioned-backup-store.ts';
import { NodeFsBackupStore } from '../../stores/node/node-fs-backup-store.ts';
import {
  readRestoreValues,
  RestoreEngine,
  restoreSourceFromLibrary,
  restoreSourceFromTree,
  type RestoreProgress,
  type RestoreSource,
} from '../../restore/index.ts';

function isBackupFolder(path: string): boolean {
  return existsSync(join(path, 'Manifest.plist')) || existsSync(join(path, 'Manifest.db'));
}

/**
 * BACKUP_DIR is either the folder holding <UDID>/ folders (as idevicebackup2 expects) or one
 * <UDID> folder. Returns the root and the identifier of the backup to restore.
 */
export function resolveBackupFolder(dir: string, source: string | undefined, targetUdid: string): { root: string; identifier: string } {
  const full = resolve(dir);
  if (!existsSync(full) || !statSync(full).isDirectory()) throw new UsageError(`${dir} is not a folder`);
  if (isBackupFolder(full)) {
    const identifier = basename(full);
    if (source !== undefined && source !== identifier) throw new UsageError(`${dir} is the backup of ${identifier}, not of ${source}`);
    return { root: dirname(full), identifier };
  }
  if (source !== undefined) {
    if (!isBackupFolder(join(full, source))) throw new UsageError(`There is no backup of ${source} in ${dir}`);
    return { root: full, identifier: source };
  }
  const found = readdirSync(full, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && isBackupFolder(join(full, e.name)))
    .map((e) => e.name);
  if (found.includes(targetUdid)) return { root: full, identifier: targetUdid };
  if (found.length === 1) return { root: full, identifier: found[0]! };
  if (found.length === 0) throw new UsageError(`There is no backup in ${dir}`);
  throw new UsageError(`${dir} holds backups of several devices (${found.join(', ')}); choose one with --source UDID`);
}

async function openSource(root: string, identifier: string): Promise<RestoreSource> {
  if (existsSync(join(root, META_DIR))) {
    // A Lifeboat store: its current backup finishes any interrupted commit first.
    const store = await NodeFsBackupStore.open(root);
    const tree = await store.current(identifier);
    if (tree) return restoreSourceFromTree(tree, join(root, identifier));
  }
  return restoreSourceFromLibrary(new NodeFsSource(join(root, identifier)));
}

const RESTORE_STAGES: Record<RestoreProgress['stage'], string> = {
  checking: 'Checking the backup',
  preparing: 'Preparing',
  'waiting-for-passcode': 'Enter your passcode on the iPhone',
  'device-preparing': 'iPhone is preparing the restore',
  sending: 'Sending',
  finishing: 'Finishing',
  done: 'Done',
};

export const restoreCommand: CliCommand = {
  name: 'restore',
  summary: 'Restore a backup onto the device (the same one or another)',
  usage: [
    'usage: npm run cli -- restore BACKUP_DIR [--source UDID] [--password PW] [--system] [--settings] [--no-reboot] [--remove]',
    '',
    'BACKUP_DIR is the folder holding <UDID>/ backup folders (as idevicebackup2 expects) or one <UDID>',
    'folder. Everything is checked before the iPhone is touched: the backup is complete and verifies,',
    'the password fits, Find My is off, the iOS version and free space suffice; restoring another kind',
    'of device (iPad → iPhone) lists what will not transfer.',
    '  --source UDID    restore the backup of this device (default: the connected one, or the only backup)',
    '  --password PW    password of an encrypted backup',
    '  --system         restore system files too',
    '  --settings       restore the backup\'s settings instead of keeping the iPhone\'s',
    '  --no-reboot      do not restart the iPhone when done',
    '  --remove         remove items on the iPhone that the backup does not have',
    '  --copy           ask the iPhone to keep a copy of the backup first',
    '  --skip-apps      do not reinstall the backup\'s apps',
    GLOBAL_OPTIONS_USAGE,
  ].join('\n'),
  flags: ['system', 'settings', 'no-reboot', 'remove', 'copy', 'skip-apps'],
  async run(args: ParsedArgs): Promise<number> {
    const dir = args.positionals[0];
    if (!dir) {
      args.io.err('restore: BACKUP_DIR is required\n');
      return 2;
    }
    const { lockdown, udid } = await openPairedLockdown(args);
    const run = longRunning(args);
    try {
      const { root, identifier } = resolveBackupFolder(dir, args.string('source'), udid);
      const source = await openSource(root, identifier);
      const values = await readRestoreValues(lockdown);
      const password = args.string('password');
      const result = await RestoreEngine.run({
        provider: lockdown,
        source,
        targetUdid: udid,
        sourceIdentifier: identifier,
        deviceValues: values,
        options: {
          system: args.flag('system'),
          settings: args.flag('settings'),
          reboot: !args.flag('no-reboot'),
          removeItemsNotRestored: args.flag('remove'),
          copyFirst: args.flag('copy'),
          skipApps: args.flag('skip-apps'),
          ...(password !== undefined ? { password } : {}),
        },
        signal: run.signal,
        onWarning: (w) => args.io.err(`warning: ${w}\n`),
        onProgress: (p) =>
          run.status(
            transferLine({ stageText: RESTORE_STAGES[p.stage], percent: p.percent, bytes: p.bytesSent, files: p.filesSent, bytesPerSecond: p.bytesPerSecond }),
          ),
      });
      run.done();
      args.io.out(
        `Restore complete: ${result.filesSent} files, ${megabytes(result.bytesSent)} from ${join(root, identifier)} in ${(result.durationMs / 1000).toFixed(1)} s` +
          `${result.plan.crossDevice ? ` (from an ${result.plan.backupProductType})` : ''}.${result.rebooting ? ' The iPhone restarts now.' : ''}\n`,
      );
      return 0;
    } finally {
      run.done();
      await lockdown.close().catch(() => undefined);
    }
  },
};
