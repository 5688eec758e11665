import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import type { Dataset, MutationSummary, TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';
import { VirtualIPhone, type VirtualIPhoneOptions } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd, type VirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

/**
 * Real backups of one virtual iPhone made by one writer — Lifeboat's own CLI (BackupEngine into a
 * NodeFsBackupStore) or Debian's idevicebackup2 — for the library interop tests: a full plain
 * backup, a copy of it brought up to date by an incremental backup after the phone's data changed,
 * and a full encrypted backup.
 */

export type WriterName = 'lifeboat' | 'idevicebackup2';

export interface MadeBackup {
  /** What to hand the library / CLI: the backup folder or the folder above it. */
  dir: string;
  /** The backup folder itself (…/<UDID>). */
  backupDir: string;
  truth: TruthEntry[];
}

export interface WriterBackups {
  writer: WriterName;
  iphone: VirtualIPhone;
  dataset: Dataset;
  password: string;
  plain: MadeBackup;
  incremental: MadeBackup & { before: TruthEntry[]; change: MutationSummary };
  encrypted: MadeBackup;
  /** Wall-clock milliseconds of each step, for the report. */
  timings: Record<string, number>;
  /** Temporary folders to remove. */
  dirs: string[];
  usbmuxd: VirtualUsbmuxd;
}

export interface CommandResult {
  code: number;
  out: string;
  err: string;
}

export async function cli(argv: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => void (out += t), err: (t) => void (err += t) }, env);
  return { code, out, err };
}

function idevice(usbmuxd: VirtualUsbmuxd, tool: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      `/usr/bin/${tool}`,
      args,
      { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: usbmuxd.address }, timeout: 120_000, maxBuffer: 1 << 26 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out: stdout, err: stderr }),
    );
  });
}

function must(what: string, r: CommandResult): CommandResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out}\n${r.err}`);
  return r;
}

/** Small KDF rounds so unlocking takes milliseconds; the format is the real one. */
export const TEST_KDF = { dpic: 1000, iter: 10 };

export async function makeBackups(writer: WriterName, options: VirtualIPhoneOptions & { password: string; mutateSeed: number }): Promise<WriterBackups> {
  const timings: Record<string, number> = {};
  const dirs: string[] = [];
  const tempDir = async (label: string) => {
    const dir = await mkdtemp(join(tmpdir(), `lifeboat-interop-${writer}-${label}-`));
    dirs.push(dir);
    return dir;
  };
  const timed = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await run();
    } finally {
      timings[label] = Math.round(performance.now() - start);
    }
  };
  const iphone = new VirtualIPhone({ dataset: 'small', kdf: TEST_KDF, ...options });
  const usbmuxd = await startVirtualUsbmuxd({ iphone });
  const env = { USBMUXD_SOCKET_ADDRESS: usbmuxd.address };
  const ours = writer === 'lifeboat';
  const backup = (root: string, full: boolean) =>
    ours
      ? cli(['backup', root, ...(full ? ['--full'] : [])], env).then((r) => must('lifeboat backup', r))
      : idevice(usbmuxd, 'idevicebackup2', ['backup', ...(full ? ['--full'] : []), root]).then((r) => must('idevicebackup2 backup', r));
  const made = (root: string, truth: TruthEntry[]): MadeBackup => {
    const backupDir = join(root, iphone.udid);
    // Our CLI's output is opened through the store root (the library must find <UDID>/ and skip
    // .lifeboat/); idevicebackup2's through the backup folder itself.
    return { dir: ours ? root : backupDir, backupDir, truth };
  };
  try {
    const dataset = await iphone.backup.dataset();
    await timed('pair', async () => must('pair', ours ? await cli(['pair'], env) : await idevice(usbmuxd, 'idevicepair', ['pair'])));

    const plainRoot = await tempDir('plain');
    await timed('full backup', () => backup(plainRoot, true));
    const plainTruth = await dataset.truth(false);

    const incrementalRoot = await tempDir('incremental');
    await cp(plainRoot, incrementalRoot, { recursive: true, verbatimSymlinks: true });
    const change = dataset.mutate(options.mutateSeed);
    await timed('incremental backup', () => backup(incrementalRoot, false));
    const incrementalTruth = await dataset.truth(false);

    await timed('encryption on', async () =>
      must(
        'encryption on',
        ours ? await cli(['encryption', 'on', options.password], env) : await idevice(usbmuxd, 'idevicebackup2', ['encryption', 'on', options.password, plainRoot]),
      ),
    );
    const encryptedRoot = await tempDir('encrypted');
    await timed('encrypted backup', () => backup(encryptedRoot, true));
    const encryptedTruth = await dataset.truth(true);

    return {
      writer,
      iphone,
      dataset,
      password: options.password,
      plain: made(plainRoot, plainTruth),
      incremental: { ...made(incrementalRoot, incrementalTruth), before: plainTruth, change },
      encrypted: made(encryptedRoot, encryptedTruth),
      timings,
      dirs,
      usbmuxd,
    };
  } catch (error) {
    await usbmuxd.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
