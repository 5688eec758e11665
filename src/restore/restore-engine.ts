import { InsufficientSpaceError, WrongPasswordError, type LifeboatError } from '../core/errors.ts';
import { errorForDeviceCode } from '../backup/backup-engine.ts';
import { ProgressTracker, type BackupProgress } from '../backup/progress.ts';
import { SyncRun } from '../backup/sync-run.ts';
import { encodeXmlPlist, type PlistDict } from '../plist/index.ts';
import type { ServiceProvider } from '../services/service-provider.ts';
import type { StallLimits } from '../services/stall-watchdog.ts';
import { RebootRequiredError } from './errors.ts';
import { checkRestore, type RestoreDeviceValues, type RestorePlan } from './prechecks.ts';
import { RestoreFileSystem } from './restore-file-system.ts';
import type { RestoreSource } from './restore-source.ts';

export interface RestoreOptions {
  /** Also restore system domains (RestoreSystemFiles). */
  system?: boolean;
  /** Take the backup's settings instead of keeping the device's (RestorePreserveSettings = false). */
  settings?: boolean;
  /** Restart the device when done (RestoreShouldReboot, default true). */
  reboot?: boolean;
  /** Ask for a copy of the backup first (RestoreDontCopyBackup = false); Lifeboat's stores keep versions anyway. */
  copyFirst?: boolean;
  /** Delete items on the device that the backup does not have (RemoveItemsNotRestored). */
  removeItemsNotRestored?: boolean;
  /** Password of an encrypted backup. */
  password?: string;
  /** Do not write RestoreApplications.plist (the phone will not reinstall the backup's apps). */
  skipApps?: boolean;
}

export type RestoreStage = 'checking' | 'preparing' | 'waiting-for-passcode' | 'device-preparing' | 'sending' | 'finishing' | 'done';

export interface RestoreProgress {
  stage: RestoreStage;
  bytesSent: number;
  filesSent: number;
  bytesPerSecond: number;
  percent: number | null;
  etaSeconds: number | null;
  warnings: number;
}

export interface RestoreRunOptions {
  provider: ServiceProvider;
  source: RestoreSource;
  /** UDID of the connected device being restored. */
  targetUdid: string;
  /** Identifier (folder name) of the backup: the UDID of the device it was made from. */
  sourceIdentifier: string;
  /** Target lockdown values for the pre-checks (readRestoreValues). */
  deviceValues: RestoreDeviceValues;
  options?: RestoreOptions;
  onProgress?: (progress: RestoreProgress) => void;
  onWarning?: (message: string) => void;
  /** Called after the checks pass, before anything is sent to the device. */
  onPlan?: (plan: RestorePlan) => void;
  signal?: AbortSignal;
  /** How long the device may stay silent before the run fails with a TimeoutError (defaults: StallWatchdog). */
  stall?: StallLimits;
}

export interface RestoreResult {
  plan: RestorePlan;
  bytesSent: number;
  filesSent: number;
  durationMs: number;
  /** The plan's warnings first (plan.warnings, in order), then those raised while the files went over. */
  warnings: string[];
  /** The device restarts now (RestoreShouldReboot). */
  rebooting: boolean;
}

const RESTORE_APPS_DIR = '/iTunesRestore';
const RESTORE_APPS_FILE = '/iTunesRestore/RestoreApplications.plist';

const STAGES: Record<BackupProgress['stage'], RestoreStage> = {
  preparing: 'preparing',
  'waiting-for-passcode': 'waiting-for-passcode',
  'device-preparing': 'device-preparing',
  receiving: 'sending',
  finishing: 'finishing',
  done: 'done',
};

/** A restore's final device error → the error a person sees. */
export function restoreErrorForDeviceCode(code: number, description?: string): LifeboatError {
  switch (code) {
    case 102:
      return new RebootRequiredError(description);
    case 105:
      return new InsufficientSpaceError(`There is not enough free space on the iPhone to restore this backup (device error 105${description ? `: ${description}` : ''}).`);
    case 207:
      return new WrongPasswordError(`The iPhone could not unlock the backup with this password (device error 207${description ? `: ${description}` : ''}).`);
    default:
      // 208 (passcode) and 211 (Find My) read the same as for a backup.
      return errorForDeviceCode(code, description);
  }
}

/**
 * Restores a backup onto a device the way Finder does (backup.md §7): checks first, then the sync
 * lock, RestoreApplications.plist, the `Restore` request and the DL loop in which the device pulls
 * the backup from `source` in 32 KiB blocks.
 */
export class RestoreEngine {
  static async run(options: RestoreRunOptions): Promise<RestoreResult> {
    return new RestoreEngine(options).run();
  }

  private readonly tracker: ProgressTracker;
  private readonly sync: SyncRun;
  private checking = true;

  private constructor(private readonly options: RestoreRunOptions) {
    this.tracker = new ProgressTracker(options.onProgress ? (p) => options.onProgress!(this.map(p)) : undefined);
    this.sync = new SyncRun({
      tracker: this.tracker,
      signal: options.signal,
      onWarning: options.onWarning,
      cancelledText: 'Restore cancelled.',
      cancelledOnDeviceText: 'The restore was cancelled on the iPhone.',
      disconnectedText: 'The iPhone was disconnected during the restore. Reconnect it and restore again.',
      stall: options.stall,
      disconnectPattern: /connection closed|stream closed|ended the session/,
    });
  }

  private map(p: BackupProgress): RestoreProgress {
    return {
      stage: this.checking ? 'checking' : STAGES[p.stage],
      bytesSent: p.bytesReceived,
      filesSent: p.filesReceived,
      bytesPerSecond: p.bytesPerSecond,
      percent: p.percent,
      etaSeconds: p.etaSeconds,
      warnings: p.warnings,
    };
  }

  private async run(): Promise<RestoreResult> {
    const { provider, source, targetUdid, sourceIdentifier } = this.options;
    const opts = this.options.options ?? {};
    const started = performance.now();
    const sync = this.sync;
    const s = sync.signal;
    let wroteApps = false;
    let succeeded = false;
    let rebooting = false;
    try {
      this.tracker.flush();
      const plan = await checkRestore({ source, values: this.options.deviceValues, password: opts.password });
      for (const w of plan.warnings) sync.warn(w);
      this.options.onPlan?.(plan);
      s.throwIfAborted();
      this.checking = false;
      this.tracker.flush();

      const mb2 = await sync.open(provider);
      const afc = sync.afc!;

      if (!opts.skipApps && plan.applications && Object.keys(plan.applications).length > 0) {
        await afc.makeDirectory(RESTORE_APPS_DIR).catch(() => undefined); // may exist already
        wroteApps = true;
        await afc.writeFile(RESTORE_APPS_FILE, encodeXmlPlist(plan.applications));
      }

      s.throwIfAborted();
      rebooting = opts.reboot !== false;
      const request: PlistDict = {
        TargetIdentifier: targetUdid,
        SourceIdentifier: sourceIdentifier,
        Options: {
          RestoreSystemFiles: opts.system === true,
          RestoreShouldReboot: rebooting,
          RestoreDontCopyBackup: opts.copyFirst !== true,
          RestorePreserveSettings: opts.settings !== true,
          RemoveItemsNotRestored: opts.removeItemsNotRestored === true,
          ...(opts.password !== undefined && plan.encrypted ? { Password: opts.password } : {}),
        },
      };
      await mb2.sendRequest('Restore', request);
      sync.setWatchdogPhase('preparing');
      this.tracker.setStage(this.tracker.snapshot.stage === 'waiting-for-passcode' ? 'waiting-for-passcode' : 'device-preparing');
      const fs = new RestoreFileSystem(source, sourceIdentifier, () => this.tracker.file());
      const result = await mb2.runLoop(
        fs,
        {
          onBytesSent: (n) => this.tracker.bytes(n),
          onProgress: (p) => this.tracker.percent(p),
          onMessage: () => sync.setWatchdogPhase('transfer'),
          onWarning: (w) => sync.warn(w),
        },
        s,
      );
      for (const r of fs.refused) sync.warn(`The iPhone asked to change the backup (${r}); refused, the backup is read-only during a restore.`);
      if (result.errorCode !== 0) {
        rebooting = false;
        throw restoreErrorForDeviceCode(result.errorCode, result.errorDescription);
      }
      succeeded = true;
      this.tracker.setStage('done');
      const snap = this.tracker.snapshot;
      return { plan, bytesSent: snap.bytesReceived, filesSent: snap.filesReceived, durationMs: performance.now() - started, warnings: sync.warnings, rebooting };
    } catch (e) {
      rebooting = false;
      throw sync.translate(e);
    } finally {
      // A rebooting phone drops every connection; cleanup there is best effort and quiet.
      if (wroteApps && !succeeded && sync.afc) await sync.afc.removePath(RESTORE_APPS_FILE).catch(() => undefined);
      await sync.close({ releaseLock: !rebooting });
    }
  }
}
