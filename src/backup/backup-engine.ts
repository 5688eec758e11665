import {
  CorruptBackupError,
  FindMyEnabledError,
  InsufficientSpaceError,
  LifeboatError,
  PasscodeNotEnteredError,
  WrongPasswordError,
} from '../core/errors.ts';
import { decodePlist, encodeXmlPlist, isPlistDict, type PlistDict } from '../plist/index.ts';
import type { AfcClient } from '../services/afc.ts';
import { InstallationProxyClient } from '../services/installation-proxy.ts';
import type { DeviceLinkFileSystem, MobileBackup2Result } from '../services/mobilebackup2.ts';
import { NOTIFICATIONS } from '../services/notification-proxy.ts';
import type { ServiceProvider } from '../services/service-provider.ts';
import type { StallLimits } from '../services/stall-watchdog.ts';
import { SpringboardClient } from '../services/springboard.ts';
import type { BackupSession, BackupStore } from '../stores/backup-store.ts';
import { StoreError } from '../stores/errors.ts';
import { buildInfoPlist, readITunesFiles, type BackupDeviceValues } from './info-plist.ts';
import { ProgressTracker, type BackupProgress } from './progress.ts';
import { storageFullError } from './space-needed.ts';
import { SessionFileSystem } from './session-file-system.ts';
import { SyncRun } from './sync-run.ts';

export interface BackupRunOptions {
  provider: ServiceProvider;
  store: BackupStore;
  udid: string;
  deviceValues: BackupDeviceValues;
  /** Ask the device for a full backup even if an earlier one exists. */
  full?: boolean;
  /** Continue an interrupted backup's staging instead of discarding it (default true). */
  resume?: boolean;
  /** Backup password, for the person's information only: the device encrypts, we never need it to back up. */
  password?: string;
  onProgress?: (progress: BackupProgress) => void;
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
  /** How long the device may stay silent before the run fails with a TimeoutError (defaults: StallWatchdog). */
  stall?: StallLimits;
  /** On cancel or failure, keep what was staged for a resume (default) or throw it away. */
  onInterrupt?: 'keep' | 'discard';
}

export interface BackupResult {
  udid: string;
  bytesReceived: number;
  filesReceived: number;
  durationMs: number;
  warnings: string[];
  /** Status.plist's IsFullBackup, as the device decided. */
  isFullBackup: boolean;
  encrypted: boolean;
}


/** Device error code from a final ProcessMessage → the error a person sees. */
export function errorForDeviceCode(code: number, description?: string): LifeboatError {
  switch (code) {
    case 105:
      return new InsufficientSpaceError(
        'There is not enough free space for this backup (device error 105). The device needs room for the whole backup plus 128 MB.',
      );
    case 207:
      return new WrongPasswordError(`The backup password is wrong or the encryption settings changed (device error 207${description ? `: ${description}` : ''}).`);
    case 208:
      return new PasscodeNotEnteredError();
    case 211:
      return new FindMyEnabledError();
    case 212:
      return new LifeboatError('device-error', 'The iPhone has not finished its setup (device error 212).', {
        action: 'Finish the setup assistant on the iPhone, then try again.',
      });
    default:
      return new LifeboatError('device-error', `The device ended the backup with error ${code}${description ? `: ${description}` : ''}.`, {
        action: 'Try again; if it keeps failing, delete the interrupted backup and make a full one.',
      });
  }
}

/**
 * Runs one backup the way Finder does (backup.md §4.2): notifications, the sync lock, Info.plist,
 * then mobilebackup2's DL loop streaming straight into a store session, committed only when the
 * device reports success and Status.plist says the snapshot is finished.
 */
export class BackupEngine {
  static async run(options: BackupRunOptions): Promise<BackupResult> {
    return new BackupEngine(options).run();
  }

  private readonly tracker: ProgressTracker;
  private readonly sync: SyncRun;

  private constructor(private readonly options: BackupRunOptions) {
    this.tracker = new ProgressTracker(options.onProgress);
    this.sync = new SyncRun({
      tracker: this.tracker,
      signal: options.signal,
      onWarning: options.onWarning,
      cancelledText: 'Backup cancelled.',
      cancelledOnDeviceText: 'The backup was cancelled on the iPhone.',
      disconnectedText: 'The iPhone was disconnected during the backup. What was received so far is kept; the next backup continues from it.',
      stall: options.stall,
      disconnectPattern: /connection closed|stream closed/,
    });
  }

  private async run(): Promise<BackupResult> {
    const { provider, store, udid } = this.options;
    const started = performance.now();
    const sync = this.sync;
    const s = sync.signal;
    let session: BackupSession | undefined;
    let committed = false;
    this.tracker.flush(); // announces 'preparing'
    try {
      const mb2 = await sync.open(provider, [NOTIFICATIONS.syncSuspendRequest, NOTIFICATIONS.syncResumeRequest, NOTIFICATIONS.backupDomainChanged]);

      session = await store.openSession(udid, { resume: this.options.resume ?? true });
      const info = await this.collectInfoPlist(sync.afc!);
      await session.writeFile('Info.plist', encodeXmlPlist(info));
      await session.sync();

      s.throwIfAborted();
      await mb2.requestBackup(udid, { full: this.options.full });
      sync.setWatchdogPhase('preparing');
      this.tracker.setStage(this.tracker.snapshot.stage === 'waiting-for-passcode' ? 'waiting-for-passcode' : 'device-preparing');
      const fs: DeviceLinkFileSystem = new SessionFileSystem(session);
      let result: MobileBackup2Result;
      try {
        result = await mb2.runLoop(
          fs,
          {
            onBytesReceived: (n) => this.tracker.bytes(n),
            onUploadBatch: (n) => this.tracker.batchStarted(n),
            onFileReceived: () => this.tracker.file(),
            onProgress: (p) => this.tracker.percent(p),
          onMessage: () => sync.setWatchdogPhase('transfer'),
            onWarning: (w) => sync.warn(w),
          },
          s,
        );
      } catch (e) {
        throw this.translate(e);
      }
      if (result.errorCode !== 0) throw await this.deviceFailure(result, session);

      this.tracker.setStage('finishing');
      const status = await readStatus(session);
      if (status.SnapshotState !== 'finished') {
        throw new CorruptBackupError(
          `The device reported success but the backup's Status.plist says "${String(status.SnapshotState)}", not "finished".`,
        );
      }
      await session.commit();
      committed = true;
      for (const w of session.warnings?.() ?? []) sync.warn(w);
      const manifest = await readPlistIfPresent(store, udid, 'Manifest.plist');
      this.tracker.setStage('done');
      const snap = this.tracker.snapshot;
      return {
        udid,
        bytesReceived: snap.bytesReceived,
        filesReceived: snap.filesReceived,
        durationMs: performance.now() - started,
        warnings: sync.warnings,
        isFullBackup: status.IsFullBackup === true,
        encrypted: manifest?.IsEncrypted === true,
      };
    } catch (e) {
      const error = this.translate(e);
      if (session && !committed) {
        try {
          if (this.options.onInterrupt === 'discard') await session.discard();
          else await session.suspend();
        } catch {
          // The original error matters more than a failed cleanup.
        }
      }
      throw error;
    } finally {
      await sync.close();
    }
  }

  /**
   * The device's error. A 105 that follows our writes failing for space (the device hears ENOSPC and
   * gives up) is the store's full quota or disk: the store says so on its next sync, and the person
   * hears how much room the backup needs instead of the device's generic 105.
   */
  private async deviceFailure(result: MobileBackup2Result, session: BackupSession): Promise<LifeboatError> {
    // The device gave up because we could not store what it sent: say what failed here.
    if (result.hostFailure instanceof LifeboatError) return this.translate(result.hostFailure) as LifeboatError;
    if (result.errorCode === 105) {
      try {
        await session.sync();
      } catch (e) {
        if (e instanceof StoreError && e.errno === 'ENOSPC') return this.storageFull();
      }
    }
    return errorForDeviceCode(result.errorCode, result.errorDescription);
  }

  private storageFull(): LifeboatError {
    const { store, udid } = this.options;
    return storageFullError(store, this.tracker.snapshot, store.latestBackupBytes?.(udid));
  }

  /** The shared translation, plus a full backup drive. */
  private translate(e: unknown): unknown {
    const error = this.sync.translate(e);
    if (error instanceof StoreError && error.errno === 'ENOSPC') return this.storageFull();
    return error;
  }

  /** Info.plist inputs; apps and icons are best effort (a backup without them still restores data). */
  private async collectInfoPlist(afc: AfcClient): Promise<PlistDict> {
    const { udid, deviceValues } = this.options;
    const provider = this.sync.provider(this.options.provider);
    let apps: PlistDict[] = [];
    const icons = new Map<string, Uint8Array>();
    try {
      const ip = await InstallationProxyClient.start(provider);
      try {
        apps = await ip.browse();
      } finally {
        await ip.close();
      }
    } catch (e) {
      this.sync.warn(`Could not list apps for Info.plist: ${(e as Error).message}`);
    }
    const withArchives = apps.filter((a) => typeof a.CFBundleIdentifier === 'string' && a.ApplicationSINF instanceof Uint8Array);
    if (withArchives.length > 0) {
      try {
        const sb = await SpringboardClient.start(provider);
        try {
          for (const app of withArchives) {
            const id = app.CFBundleIdentifier as string;
            const png = await sb.getIconPNGData(id);
            if (png) icons.set(id, png);
          }
        } finally {
          await sb.close();
        }
      } catch (e) {
        this.sync.warn(`Could not fetch app icons: ${(e as Error).message}`);
      }
    }
    let iTunesFiles = new Map<string, Uint8Array>();
    let iBooksData: Uint8Array | undefined;
    try {
      iTunesFiles = await readITunesFiles(afc);
      iBooksData = (await afc.readFile('/Books/iBooksData2.plist')) ?? undefined;
    } catch (e) {
      this.sync.warn(`Could not read iTunes files: ${(e as Error).message}`);
    }
    return buildInfoPlist({ udid, values: deviceValues, apps, icons, iTunesFiles, iBooksData });
  }
}

async function readStatus(session: BackupSession): Promise<PlistDict> {
  let bytes: Uint8Array;
  try {
    bytes = await session.readFile('Status.plist');
  } catch (e) {
    throw new CorruptBackupError('The device reported success but sent no Status.plist.', e);
  }
  const value = decodePlist(bytes);
  if (!isPlistDict(value)) throw new CorruptBackupError('Status.plist is not a dictionary.');
  return value;
}

async function readPlistIfPresent(store: BackupStore, udid: string, path: string): Promise<PlistDict | null> {
  const tree = await store.current(udid);
  if (!tree || !(await tree.stat(path))) return null;
  try {
    const v = decodePlist(await tree.readFile(path));
    return isPlistDict(v) ? v : null;
  } catch {
    return null;
  }
}
