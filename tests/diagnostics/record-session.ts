import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import type { Dataset } from '../../src/virtual-iphone/dataset/index.ts';
import { installBackupServices } from '../../src/virtual-iphone/services/index.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function cli(argv: string[], address: string): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { USBMUXD_SOCKET_ADDRESS: address });
  return { code, out, err };
}

export interface RecordedSession {
  /** Every command's trace, concatenated in order (pair, [encryption on], backup, restore). */
  trace: string;
  /** Folder holding the backup made during recording (`<dir>/<UDID>/`). */
  backupDir: string;
  udid: string;
  iphone: VirtualIPhone;
  /** The recorded device's data, to check what the trace must not contain. */
  dataset: Dataset;
  cleanup(): Promise<void>;
}

/** The steps of a recorded demo session; the replay test runs the same ones against the replay. */
export function sessionSteps(backupDir: string, password: string | undefined): string[][] {
  return [
    ['pair'],
    ...(password ? [['encryption', 'on', password]] : []),
    ['backup', backupDir],
    ['restore', backupDir, '--system', '--no-reboot', ...(password ? ['--password', password] : [])],
  ];
}

/**
 * A full demo session through the CLI against a virtual iPhone (small dataset), each command with
 * `--trace`: pair, encryption on (when a password is given), backup, restore.
 */
export async function recordSession(options: { password?: string; seed?: number; profile?: string } = {}): Promise<RecordedSession> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-trace-'));
  const backupDir = join(dir, 'backups');
  const kdf = { dpic: 1000, iter: 10 };
  // A named profile builds the phone the way tests/virtual-iphone/profiles.test.ts does (small dataset, fast KDF).
  const iphone = options.profile === undefined ? new VirtualIPhone() : new VirtualIPhone({ profile: options.profile, dataset: 'small', seed: options.seed ?? 1, kdf });
  const services = options.profile === undefined ? installBackupServices(iphone, { dataset: 'small', seed: options.seed ?? 1, kdf: kdf as never }) : iphone.backup;
  const vu = await startVirtualUsbmuxd({ iphone });
  // The person holding the phone types the passcode whenever it asks (passcode profiles).
  const typer = setInterval(() => {
    if (iphone.backup.passcode?.presented) iphone.enterPasscode();
  }, 20);
  let trace = '';
  try {
    const steps = sessionSteps(backupDir, options.password);
    for (const [i, step] of steps.entries()) {
      const file = join(dir, `step-${i}.trace`);
      const r = await cli([...step, '--trace', file], vu.address);
      if (r.code !== 0) throw new Error(`recording: \`${step.join(' ')}\` failed: ${r.err}`);
      trace += await readFile(file, 'utf8');
    }
  } finally {
    clearInterval(typer);
    await vu.close();
  }
  return { trace, backupDir, udid: iphone.udid, iphone, dataset: await services.dataset(), cleanup: () => rm(dir, { recursive: true, force: true }) };
}
