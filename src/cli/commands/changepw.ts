import { GLOBAL_OPTIONS_USAGE, type CliCommand, type ParsedArgs } from '../args.ts';
import { changePassword } from '../../backup/index.ts';
import { openPairedLockdown } from './backup.ts';

export const changepwCommand: CliCommand = {
  name: 'changepw',
  summary: 'Change the backup encryption password',
  usage: ['usage: npm run cli -- changepw OLD NEW', '', 'The iPhone may ask for its passcode to confirm.', GLOBAL_OPTIONS_USAGE].join('\n'),
  async run(args: ParsedArgs): Promise<number> {
    const [oldPassword, newPassword] = args.positionals;
    if (!oldPassword || !newPassword) {
      args.io.err('changepw: expected OLD and NEW passwords\n');
      return 2;
    }
    const { lockdown, udid } = await openPairedLockdown(args);
    try {
      await changePassword(lockdown, {
        udid,
        oldPassword,
        newPassword,
        onPasscodePrompt: (shown) => {
          if (shown) args.io.err('Enter your passcode on the iPhone to confirm…\n');
        },
      });
      args.io.out('Backup password changed. The next backup will be a full one.\n');
      return 0;
    } finally {
      await lockdown.close();
    }
  },
};
