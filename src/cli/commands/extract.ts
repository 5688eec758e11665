import type { CliCommand, ParsedArgs } from '../args.ts';
import { UsageError } from '../args.ts';
import { openBackupFolder } from '../../library/node/open.ts';
import { NodeFsTarget } from '../../library/node/fs-target.ts';
import { BackupLockedError } from '../../library/errors.ts';
import { entriesUnder, exportTree } from '../../library/export/exports.ts';
import { refusalSummary } from '../../core/confined-path.ts';

export const extractCommand: CliCommand = {
  name: 'extract',
  summary: 'Write every file of a backup as OUT_DIR/<domain>/<relativePath> (decrypted)',
  usage: [
    'usage: npm run cli -- extract BACKUP_DIR OUT_DIR [--password PW]',
    '',
    '  BACKUP_DIR       a backup folder (holding Manifest.db) or the MobileSync Backup folder above it',
    '  OUT_DIR          where to write; directories and symlinks are recreated (links last, never followed)',
    '',
    'Rows whose names could escape OUT_DIR (.., absolute, backslash, NUL, through a symlink, or two rows',
    'on one file of a case-insensitive disk) and damaged rows are skipped and named; the exit status is 1 then.',
    '  --password PW    the backup password, for encrypted backups',
  ].join('\n'),
  async run(args: ParsedArgs): Promise<number> {
    const [dir, out] = args.positionals;
    if (!dir || !out) throw new UsageError('extract needs a backup folder and an output folder');
    const reader = await openBackupFolder(dir, args.string('password'));
    try {
      if (reader.locked) throw new BackupLockedError();
      // Each refused row is named as it happens, so a long run shows them while it goes.
      const result = await exportTree(reader, entriesUnder(reader, '', ''), new NodeFsTarget(out), {
        onRefused: (refusal) => args.io.err(`${refusal.message}\n`),
      });
      args.io.out(`Extracted ${result.files} files (${result.bytes} bytes) to ${out}\n`);
      for (const path of result.missing) args.io.err(`missing from the backup: ${path}\n`);
      if (result.refused.length === 0) return 0;
      args.io.err(`${refusalSummary(result.files, 'file', result.refused)}\n`);
      return 1;
    } finally {
      reader.close();
    }
  },
};
