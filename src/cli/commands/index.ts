import type { CliCommand } from '../args.ts';
import { devicesCommand } from './devices.ts';
import { infoCommand } from './info.ts';
import { pairCommand } from './pair.ts';
import { unpairCommand } from './unpair.ts';
import { lsCommand } from './ls.ts';
import { extractCommand } from './extract.ts';
import { backupCommand } from './backup.ts';
import { encryptionCommand } from './encryption.ts';
import { changepwCommand } from './changepw.ts';
import { restoreCommand } from './restore.ts';
import { doctorCommand } from './doctor.ts';
import { diffCommand } from './diff.ts';

/** Every CLI command, in the order `help` lists them. Add a command with one import and one entry. */
export const COMMANDS: readonly CliCommand[] = [
  devicesCommand,
  infoCommand,
  pairCommand,
  unpairCommand,
  lsCommand,
  extractCommand,
  backupCommand,
  encryptionCommand,
  changepwCommand,
  restoreCommand,
  doctorCommand,
  diffCommand,
];
