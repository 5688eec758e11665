import { GLOBAL_OPTIONS_USAGE, type CliCommand, type ParsedArgs } from '../args.ts';
import { setEncryption } from '../../backup/index.ts';
import { openPairedLockdown } from './backup.ts';

export const encryptionCommand: CliCommand = {
  name: 'encryption',
  summary: 'Turn backup encryption on or off',
  usage: [
    'usage: npm run cli -- encryption on|off PASSWORD',
    '',
    '  on PASSWORD   encrypt future backups with this password (the iPhone may ask for its passcode)',
    '  off PASSWORD  stop encrypting; PASSWORD is the current backup password',
    GLOBAL_OPTIONS_USAGE,
  ].join('\n'),
  async run(args: ParsedArgs): Promise<number> {
    const [mode, password] = args.positionals;
    if ((mode !== 'on' && mode !== 'off') || !password) {
      args.io.err('encryption: expected `on PASSWORD` or `off PASSWORD`\n');
      return 2;
    }
    const { lockdown, udid } = await openPairedLockdown(args);
    try {
      const current = await lockdown.getValue('com.apple.mobile.backup', 'WillEncrypt').catch(() => false);
      const outcome = await setEncryption(lockdown, {
        udid,
        enable: mode === 'on',
        password,
        willEncrypt: current === true,
        onPasscodePrompt: (shown) => {
          if (shown) args.io.err('Enter your passcode on the iPhone to confirm…\n');
        },
      });
      args.io.out(
        outcome === 'unchanged'
          ? `Backup encryption is already ${mode}.\n`
          : `Backup encryption is now ${mode}. The next backup will be a full one.\n`,
      );
      return 0;
    } finally {
      await lockdown.close();
    }
  },
};
