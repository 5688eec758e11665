import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupEngine, setEncryption } from '../../src/backup/index.ts';
import { LifeboatError } from '../../src/core/errors.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { decodePlist, type PlistDict } from '../../src/plist/index.ts';
import { RebootRequiredError, RestoreEngine, restoreSourceFromTree } from '../../src/restore/index.ts';
import type { StallLimits } from '../../src/services/stall-watchdog.ts';
import type { BackupTree } from '../../src/stores/backup-store.ts';
import { NodeFsBackend } from '../../src/stores/node/node-fs-backend.ts';
import { META_DIR, VersionedBackupStore } from '../../src/stores/versioned-backup-store.ts';
import type { TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { DirectServiceProvider } from '../backup/direct-service-provider.ts';
import { seededRandom } from '../plist/plist-generators.ts';
import { CliProcessLink } from './cli-process.ts';
import { FAULT_KINDS, FaultTrigger, FaultyBackend, FaultyProvider, type FaultKind } from './fault-injection.ts';

export type Operation = 'full-backup' | 'incremental-backup' | 'encryption-change' | 'restore';
export const OPERATIONS: readonly Operation[] = ['full-backup', 'incremental-backup', 'encryption-change', 'restore'];

const FAST_KDF = { dpic: 1000, iter: 10 };
const PASSWORD = 'fault-campaign';
const SOURCE_UDID = '00008030-000FA0170000502E';
const TARGET_UDID = '00008101-000FA0170000702E';
/**
 * The campaign's watchdog: short, so a stall costs little, but longer than the virtual iPhone's own
 * pauses (building a Manifest.db) on a loaded machine, or healthy runs would time out.
 */
const STALL: StallLimits = { transferMs: 5000, preparingMs: 5000 };
/** A faulted run that neither finishes nor fails by then is a hang (a survival failure). */
const RUN_LIMIT_MS = 20_000;

export interface PointResult {
  op: Operation;
  fault: FaultKind;
  point: number;
  /** The fault happened before the run ended (a point past the end of a run changes nothing). */
  fired: boolean;
  /** What the faulted run ended with: 'ok', an error code, 'hang' or 'dead' (process death). */
  outcome: string;
  /** The error was not a typed LifeboatError. */
  untyped: boolean;
  /** Files of the previous backup that no longer verify, plus files of the next run that do not. */
  filesLost: number;
  /** Why this point did not survive, if it did not. */
  problem: string | undefined;
}

export interface CampaignRow {
  op: Operation;
  fault: FaultKind;
  tried: number;
  fired: number;
  survived: number;
  filesLost: number;
  untyped: number;
  outcomes: Record<string, number>;
  problems: string[];
}

function backupValues(device: VirtualIPhone) {
  return {
    root: device.values.root,
    iTunesSettings: device.values.domains['com.apple.iTunes'] ?? {},
    willEncrypt: device.values.domains['com.apple.mobile.backup']?.['WillEncrypt'] === true,
  };
}

function fileId(domain: string, relativePath: string): string {
  const id = createHash('sha1').update(`${domain}-${relativePath}`).digest('hex');
  return `${id.slice(0, 2)}/${id}`;
}

async function walk(tree: BackupTree, dir = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await tree.list(dir)) {
    const path = dir ? `${dir}/${e.name}` : e.name;
    if (e.kind === 'directory') out.push(...(await walk(tree, path)));
    else out.push(path);
  }
  return out;
}

/** Every file of a backup tree with its SHA-256: the byte-for-byte picture of a backup. */
async function fingerprint(tree: BackupTree): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of await walk(tree)) {
    const h = createHash('sha256');
    for await (const c of tree.read(path)) h.update(c);
    out.set(path, h.digest('hex'));
  }
  return out;
}

function differences(before: Map<string, string>, after: Map<string, string>): number {
  let lost = 0;
  for (const [path, hash] of before) if (after.get(path) !== hash) lost++;
  return lost;
}

function withTimeout<T>(run: Promise<T>, ms: number): Promise<T | 'hang'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([run, new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), ms)))]).finally(() => clearTimeout(timer));
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** The CLI child ended with its own "error: …" message: a typed failure, as the person sees it. */
class CliExitError extends Error {
  constructor(
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    super(`the CLI exited with ${exitCode}: ${stderr.split('\n')[0]}`);
  }
}

/**
 * One operation's world: a device, a store folder and (for restore) a second device. Points run one
 * after another in the same world, as a person's backups do: each point's recovery run is the next
 * point's "previous backup".
 */
class World {
  readonly dir: string;
  readonly device: VirtualIPhone;
  readonly target: VirtualIPhone | undefined;
  private mutation = 1000;
  /** What the device held when the backup a restore reads was made. */
  sourceTruth: TruthEntry[] = [];

  private constructor(
    readonly op: Operation,
    dir: string,
    seed: number,
  ) {
    this.dir = dir;
    this.device = new VirtualIPhone({ udid: SOURCE_UDID, dataset: 'small', kdf: FAST_KDF, seed });
    this.target = op === 'restore' ? new VirtualIPhone({ udid: TARGET_UDID, dataset: 'small', kdf: FAST_KDF, seed: seed + 1 }) : undefined;
  }

  static async create(op: Operation, seed: number): Promise<World> {
    const world = new World(op, await mkdtemp(join(tmpdir(), `lifeboat-faults-${op}-`)), seed);
    await world.device.backup.ready;
    await world.target?.backup.ready;
    await world.backup(world.openStore(new FaultTrigger(null, Infinity)), new FaultTrigger(null, Infinity), false);
    world.sourceTruth = await (await world.device.backup.dataset()).truth(false);
    return world;
  }

  /** A fresh store object on the same folder: what a new CLI process (or a reloaded worker) gets. */
  openStore(trigger: FaultTrigger, errno: 'EIO' | 'ENOSPC' = 'EIO'): { store: VersionedBackupStore; backend: FaultyBackend } {
    const backend = new FaultyBackend(new NodeFsBackend(this.dir), trigger, errno, this.op === 'restore');
    return { store: new VersionedBackupStore('node-fs', backend), backend };
  }

  async current(): Promise<{ tree: BackupTree; seq: string } | null> {
    const { store } = this.openStore(new FaultTrigger(null, Infinity));
    const tree = await store.current(SOURCE_UDID);
    if (!tree) return null;
    const versions = await store.listVersions(SOURCE_UDID);
    return { tree, seq: versions.map((v) => v.id).join(',') };
  }

  /** Changes the device's data so the next backup has something to send. */
  prepare(): Promise<void> | void {
    if (this.op === 'full-backup' || this.op === 'incremental-backup') return void this.device.backup.dataset().then((d) => d.mutate(this.mutation++));
  }

  private encrypted(): boolean {
    return this.device.backup.state.encryption !== null;
  }

  /** The link of the last run, so a hung run's connections can be ended by a replug. */
  lastLink: FaultyProvider | undefined;

  private link(device: VirtualIPhone, trigger: FaultTrigger): FaultyProvider {
    this.lastLink = new FaultyProvider(new DirectServiceProvider(device), trigger);
    return this.lastLink;
  }

  backup(opened: { store: VersionedBackupStore }, trigger: FaultTrigger, full: boolean): Promise<unknown> {
    return BackupEngine.run({
      provider: this.link(this.device, trigger),
      store: opened.store,
      udid: SOURCE_UDID,
      deviceValues: backupValues(this.device),
      full,
      stall: STALL,
    });
  }

  private cli: CliProcessLink | undefined;

  /** The operation as `npm run cli` would run it, in a child process; 'killed' when the trigger killed it. */
  async runCli(trigger: FaultTrigger): Promise<'ok' | 'killed'> {
    this.cli ??= await CliProcessLink.start(this.target ? [this.device, this.target] : [this.device]);
    const args = ((): string[] => {
      switch (this.op) {
        case 'full-backup':
          return ['backup', this.dir, '--full', '-u', SOURCE_UDID];
        case 'incremental-backup':
          return ['backup', this.dir, '-u', SOURCE_UDID];
        case 'encryption-change':
          return ['encryption', this.encrypted() ? 'off' : 'on', PASSWORD, '-u', SOURCE_UDID];
        case 'restore':
          this.target!.reboot();
          return ['restore', this.dir, '--source', SOURCE_UDID, '-u', TARGET_UDID, '--system', '--remove', '--no-reboot', ...(this.encrypted() ? ['--password', PASSWORD] : [])];
      }
    })();
    if (this.op === 'restore') await this.cli.whenAttached(this.target!);
    const end = await this.cli.run(args, trigger);
    if (end.killed) return 'killed';
    if (end.code === 0) return 'ok';
    // What the person reads: one "error: …" line and its advice; a stack trace would be an untyped crash.
    const typed = /^error: /m.test(end.stderr) && !/\n\s+at /.test(end.stderr);
    if (!typed) throw new Error(`the CLI crashed (exit ${end.code}): ${end.stderr.slice(0, 500)}`);
    throw new CliExitError(end.code, end.stderr);
  }

  /** The operation under test, over a link and a store that fail as `trigger` says. */
  async run(trigger: FaultTrigger, errno: 'EIO' | 'ENOSPC'): Promise<unknown> {
    if (trigger.kind === 'sigkill') return this.runCli(trigger);
    const opened = this.openStore(trigger, errno);
    switch (this.op) {
      case 'full-backup':
        return this.backup(opened, trigger, true);
      case 'incremental-backup':
        return this.backup(opened, trigger, false);
      case 'encryption-change': {
        const on = !this.encrypted();
        return setEncryption(this.link(this.device, trigger), {
          udid: SOURCE_UDID,
          enable: on,
          password: PASSWORD,
          willEncrypt: backupValues(this.device).willEncrypt,
          stall: STALL,
        });
      }
      case 'restore': {
        // A restore needs a restart before the next one (error 102); the person's phone restarts itself.
        this.target!.reboot();
        const tree = await opened.store.current(SOURCE_UDID);
        if (!tree) throw new Error('no backup to restore');
        const target = this.target!;
        return RestoreEngine.run({
          provider: this.link(target, trigger),
          source: restoreSourceFromTree(tree, this.dir),
          targetUdid: target.udid,
          sourceIdentifier: SOURCE_UDID,
          deviceValues: { root: target.values.root, findMy: target.values.domains['com.apple.fmip'], diskUsage: target.values.domains['com.apple.disk_usage'] },
          options: { system: true, removeItemsNotRestored: true, reboot: false, ...(this.encrypted() ? { password: PASSWORD } : {}) },
          stall: STALL,
        });
      }
    }
  }

  /**
   * The recovery a person makes: the same operation again, on a healthy link and a new store object.
   * A device that says it must restart first (error 102 after a cut restore) is restarted, as the
   * message asks.
   */
  async recover(): Promise<void> {
    const clean = new FaultTrigger(null, Infinity);
    if (this.op === 'restore') {
      try {
        await this.run(clean, 'EIO');
      } catch (e) {
        if (!(e instanceof RebootRequiredError)) throw e;
        this.target!.reboot();
        await this.run(clean, 'EIO');
      }
      return;
    }
    if (this.op === 'encryption-change') {
      // The change may already have taken effect on the device before the link failed.
      const wanted = !this.lastEncryptionWas;
      if (this.encrypted() !== wanted) await this.run(clean, 'EIO');
      // A backup after a change proves the device and the host agree on the keys.
      await this.backup(this.openStore(clean), clean, false);
      return;
    }
    await this.run(clean, 'EIO');
  }

  /** Encryption state before the faulted change, to know what the recovery must reach. */
  lastEncryptionWas = false;

  /** Files of the completed recovery that do not match what the device holds. */
  async verifyRecovery(): Promise<{ lost: number; problem?: string }> {
    if (this.op === 'restore') {
      const truth = this.sourceTruth;
      const onTarget = await (await this.target!.backup.dataset()).truth(false);
      const want = new Set(truth.filter((e) => e.kind === 'file').map((e) => `${e.domain}|${e.relativePath}|${e.sha256}`));
      const have = new Set(onTarget.filter((e) => e.kind === 'file').map((e) => `${e.domain}|${e.relativePath}|${e.sha256}`));
      let lost = 0;
      for (const k of want) if (!have.has(k)) lost++;
      return lost === 0 ? { lost } : { lost, problem: `${lost} backed-up files are not on the restored device` };
    }
    if (this.op === 'encryption-change' && this.encrypted() !== !this.lastEncryptionWas) {
      return { lost: 0, problem: `encryption is ${this.encrypted() ? 'on' : 'off'} after the recovery` };
    }
    const truth = await (await this.device.backup.dataset()).truth(false);
    const cur = await this.current();
    if (!cur) return { lost: truth.length, problem: 'no backup after the recovery run' };
    const manifest = decodePlist(await cur.tree.readFile('Manifest.plist')) as PlistDict;
    if ((manifest.IsEncrypted === true) !== this.encrypted()) return { lost: 0, problem: 'the backup after recovery has the wrong encryption' };
    let lost = 0;
    if (this.encrypted()) {
      const reader = await openBackupFolder(join(this.dir, SOURCE_UDID), PASSWORD);
      try {
        for (const e of truth) {
          if (e.kind !== 'file') continue;
          const bytes = await reader.readByPath(e.domain, e.relativePath);
          if (!bytes || createHash('sha256').update(bytes).digest('hex') !== e.sha256) lost++;
        }
      } finally {
        reader.close();
      }
    } else {
      for (const e of truth) {
        if (e.kind !== 'file') continue;
        const path = fileId(e.domain, e.relativePath);
        if (!(await cur.tree.stat(path))) {
          lost++;
          continue;
        }
        const h = createHash('sha256');
        for await (const c of cur.tree.read(path)) h.update(c);
        if (h.digest('hex') !== e.sha256) lost++;
      }
    }
    return lost === 0 ? { lost } : { lost, problem: `${lost} files of the device are missing or wrong in the backup after recovery` };
  }

  /** After the recovery: no staging, no half-done commit, nothing marked interrupted. */
  async leftovers(): Promise<string | undefined> {
    const meta = join(this.dir, META_DIR, SOURCE_UDID);
    if (existsSync(join(meta, 'staging'))) return 'staging left behind';
    if (existsSync(join(meta, 'commit.json'))) return 'commit.json left behind';
    const { store } = this.openStore(new FaultTrigger(null, Infinity));
    if (await store.hasInterruptedBackup(SOURCE_UDID)) return 'an interrupted backup is still listed';
    return undefined;
  }

  async dispose(): Promise<void> {
    await this.cli?.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Bytes a clean run of the operation moves: the range the fault points are drawn from. */
async function calibrate(world: World): Promise<number> {
  const trigger = new FaultTrigger(null, Infinity);
  world.lastEncryptionWas = world.device.backup.state.encryption !== null;
  await world.prepare();
  await world.run(trigger, 'EIO');
  await world.recover();
  return trigger.moved;
}

/** The same for the CLI in a child process, whose bytes include usbmuxd, lockdown and TLS. */
async function calibrateCli(world: World): Promise<number> {
  const trigger = new FaultTrigger(null, Infinity);
  world.lastEncryptionWas = world.device.backup.state.encryption !== null;
  await world.prepare();
  if ((await world.runCli(trigger)) !== 'ok') throw new Error('the clean CLI run did not complete');
  await world.recover();
  return trigger.moved;
}

/** Device error codes real devices end operations with (backup.md §5), drawn per point. */
const DEVICE_ERRORS = [
  { code: 1, description: 'Unknown error' },
  { code: 4, description: 'No such file or directory' },
  { code: 100 },
  { code: 102, description: 'Operation not permitted' },
  { code: 104, description: 'Error removing snapshot directory' },
  { code: 105, description: 'Insufficient free disk space on drive to back up' },
];

async function runPoint(world: World, fault: FaultKind, point: number, errno: 'EIO' | 'ENOSPC', random: () => number): Promise<PointResult> {
  const base = { op: world.op, fault, point };
  const before = await world.current();
  const previous = before ? await fingerprint(before.tree) : new Map<string, string>();
  world.lastEncryptionWas = world.device.backup.state.encryption !== null;
  await world.prepare();

  const trigger = new FaultTrigger(fault, point);
  // device-error: the device itself gives up at its next DeviceLink message after the point.
  const device = world.op === 'restore' ? world.target! : world.device;
  const deviceError = DEVICE_ERRORS[Math.floor(random() * DEVICE_ERRORS.length)]!;
  if (fault === 'device-error') trigger.onFire(() => (device.backup.state.faults.errorAtNextMessage = deviceError));
  const run = world.run(trigger, errno);
  run.catch(() => undefined);
  // Disarmed once the faulted run is over, so the recovery meets a healthy device.
  const disarm = () => (device.backup.state.faults.errorAtNextMessage = undefined);
  let outcome: string;
  let untyped = false;
  if (fault === 'process-death') {
    // A dead host never settles; give the run a moment after the fault, then walk away from it.
    const settled = run.then(() => 'ok', (e: unknown) => (e instanceof LifeboatError ? e.code : 'untyped'));
    const deadline = Date.now() + RUN_LIMIT_MS;
    while (!trigger.fired && Date.now() < deadline) {
      const done = await withTimeout(settled, 5);
      if (done !== 'hang') break;
    }
    for (let i = 0; i < 20; i++) await tick();
    outcome = trigger.fired ? 'dead' : await settled;
  } else {
    try {
      const r = await withTimeout(run, RUN_LIMIT_MS);
      outcome = r === 'hang' ? 'hang' : r === 'killed' ? 'killed' : 'ok';
    } catch (e) {
      untyped = !(e instanceof LifeboatError || e instanceof CliExitError);
      outcome = e instanceof LifeboatError ? e.code : e instanceof CliExitError ? 'cli-error' : `untyped: ${(e as Error).message}`;
    }
  }
  disarm();
  if (outcome === 'hang') world.lastLink?.replug();
  if (outcome === 'hang') return { ...base, fired: trigger.fired, outcome, untyped, filesLost: 0, problem: 'the faulted run hung' };

  // 1. The previous backup verifies byte for byte (it is the current one, or the newest version if
  //    the faulted run got as far as committing).
  let filesLost = 0;
  let problem: string | undefined;
  const after = await world.current();
  if (before) {
    if (!after) {
      filesLost += previous.size;
      problem = 'the previous backup is gone';
    } else {
      let tree = after.tree;
      if (after.seq !== before.seq && outcome !== 'ok') {
        const { store } = world.openStore(new FaultTrigger(null, Infinity));
        const [newest] = await store.listVersions(SOURCE_UDID);
        if (newest) tree = await store.openVersion(SOURCE_UDID, newest.id);
      }
      if (outcome === 'ok' && after.seq !== before.seq) {
        const { store } = world.openStore(new FaultTrigger(null, Infinity));
        const [newest] = await store.listVersions(SOURCE_UDID);
        if (newest) tree = await store.openVersion(SOURCE_UDID, newest.id);
      }
      const lost = differences(previous, await fingerprint(tree));
      if (lost > 0) {
        filesLost += lost;
        problem = `${lost} files of the previous backup changed or vanished`;
      }
    }
  }

  // 2. The next run completes, and holds what the device holds; 3. nothing is left staged.
  try {
    await withTimeout(world.recover(), RUN_LIMIT_MS * 3).then((r) => {
      if (r === 'hang') throw new Error('the recovery run hung');
    });
    const check = await world.verifyRecovery();
    filesLost += check.lost;
    problem ??= check.problem;
    problem ??= await world.leftovers();
  } catch (e) {
    problem ??= `the next run failed: ${(e as Error).message}`;
  }
  return { ...base, fired: trigger.fired, outcome, untyped, filesLost, problem };
}

export interface CampaignOptions {
  points: number;
  seed: number;
  ops?: readonly Operation[];
  faults?: readonly FaultKind[];
  onPoint?: (result: PointResult) => void;
}

/** Runs `points` seeded fault points for every operation × fault; one world per operation. */
export async function runCampaign(options: CampaignOptions): Promise<{ rows: CampaignRow[]; results: PointResult[] }> {
  const results: PointResult[] = [];
  const rows: CampaignRow[] = [];
  const faults = options.faults ?? FAULT_KINDS;
  for (const [opIndex, op] of (options.ops ?? OPERATIONS).entries()) {
    const world = await World.create(op, options.seed + opIndex);
    try {
      const span = Math.max(1, await calibrate(world));
      const cliSpan = faults.includes('sigkill') ? Math.max(1, await calibrateCli(world)) : 0;
      const random = seededRandom(options.seed * 7919 + opIndex);
      for (const fault of faults) {
        const row: CampaignRow = { op, fault, tried: 0, fired: 0, survived: 0, filesLost: 0, untyped: 0, outcomes: {}, problems: [] };
        for (let i = 0; i < options.points; i++) {
          const point = Math.floor(random() * (fault === 'sigkill' ? cliSpan : span));
          const errno = i % 2 === 1 ? 'ENOSPC' : 'EIO';
          const result = await runPoint(world, fault, point, errno, random);
          results.push(result);
          options.onPoint?.(result);
          row.tried++;
          if (result.fired) row.fired++;
          if (!result.problem && result.filesLost === 0) row.survived++;
          row.filesLost += result.filesLost;
          if (result.untyped) row.untyped++;
          const key = result.outcome.startsWith('untyped') ? 'untyped' : result.outcome;
          row.outcomes[key] = (row.outcomes[key] ?? 0) + 1;
          if (result.problem && row.problems.length < 5) row.problems.push(`point ${point}: ${result.problem}`);
        }
        rows.push(row);
      }
    } finally {
      await world.dispose();
    }
  }
  return { rows, results };
}

export function formatTable(rows: readonly CampaignRow[]): string {
  const header = ['operation', 'fault', 'points tried', 'fault hit', 'survived', 'files lost', 'untyped errors', 'how the faulted run ended'];
  const lines = rows.map((r) => [
    r.op,
    r.fault,
    String(r.tried),
    String(r.fired),
    String(r.survived),
    String(r.filesLost),
    String(r.untyped),
    Object.entries(r.outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  ]);
  const total = rows.reduce((t, r) => ({ tried: t.tried + r.tried, fired: t.fired + r.fired, survived: t.survived + r.survived, lost: t.lost + r.filesLost, untyped: t.untyped + r.untyped }), { tried: 0, fired: 0, survived: 0, lost: 0, untyped: 0 });
  lines.push(['total', '', String(total.tried), String(total.fired), String(total.survived), String(total.lost), String(total.untyped), '']);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}
