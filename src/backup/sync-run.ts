import { CancelledError, DeviceDisconnectedError, LifeboatError, ProtocolError, type TimeoutError } from '../core/errors.ts';
import { AfcClient } from '../services/afc.ts';
import { MobileBackup2Client } from '../services/mobilebackup2.ts';
import { NOTIFICATIONS, NotificationProxyClient } from '../services/notification-proxy.ts';
import type { ServiceProvider } from '../services/service-provider.ts';
import { StallWatchdog, type StallLimits, type WatchdogPhase } from '../services/stall-watchdog.ts';
import type { ProgressTracker } from './progress.ts';
import { acquireSyncLock, releaseSyncLock } from './sync-lock.ts';

export interface SyncRunOptions {
  tracker: ProgressTracker;
  /** The caller's cancel. */
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  /** What the person reads when they cancel, or when the iPhone does. */
  cancelledText: string;
  cancelledOnDeviceText: string;
  /** What the person reads when the link drops mid-run, and which ProtocolError messages mean that. */
  disconnectedText: string;
  disconnectPattern: RegExp;
  /** How long the device may stay silent before the run fails with a TimeoutError. */
  stall?: StallLimits;
}

/**
 * What a backup and a restore share around mobilebackup2 (backup.md §4.2, §7): one abort signal for
 * the caller's cancel and the iPhone's syncCancelRequest, passcode-sheet stages, warnings, the
 * services opened in Finder's order up to the sync lock, their teardown, and turning a lost link
 * into a DeviceDisconnectedError. The engines keep only what differs: the request and its files.
 */
export class SyncRun {
  readonly warnings: string[] = [];
  np: NotificationProxyClient | undefined;
  afc: AfcClient | undefined;
  mb2: MobileBackup2Client | undefined;
  private lockHandle: bigint | undefined;
  private readonly abort = new AbortController();
  private cancelReason: string | undefined;
  private stallError: TimeoutError | undefined;
  private watchdog: StallWatchdog | undefined;
  private readonly onCallerAbort = (): void => this.cancel(this.options.cancelledText);

  constructor(private readonly options: SyncRunOptions) {
    options.signal?.addEventListener('abort', this.onCallerAbort, { once: true });
    if (options.signal?.aborted) this.onCallerAbort();
  }

  /** The device's services as this run sees them: watched for stalls once `open` ran. */
  provider(fallback: ServiceProvider): ServiceProvider {
    return this.watchdog ?? fallback;
  }

  /** Aborts on the caller's cancel or the iPhone's. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  cancel(reason: string): void {
    this.cancelReason ??= reason;
    if (!this.abort.signal.aborted) this.abort.abort(new CancelledError(reason));
  }

  warn(message: string): void {
    this.warnings.push(message);
    this.options.tracker.warning();
    this.options.onWarning?.(message);
  }

  /**
   * notification_proxy (observing `notifications` besides cancel and the passcode sheet), AFC,
   * mobilebackup2, then the sync lock. What opened before a failure is closed by `close`.
   */
  async open(provider: ServiceProvider, notifications: readonly string[] = []): Promise<MobileBackup2Client> {
    const s = this.abort.signal;
    this.watchdog = new StallWatchdog(provider, this.options.stall ?? {}, (error) => this.stalled(error));
    provider = this.watchdog;
    this.np = await NotificationProxyClient.start(provider);
    this.np.onNotification((name) => this.onNotification(name));
    for (const name of [NOTIFICATIONS.syncCancelRequest, ...notifications, NOTIFICATIONS.passcodeUiPresented, NOTIFICATIONS.passcodeUiDismissed]) {
      await this.np.observe(name);
    }
    this.afc = await AfcClient.start(provider);
    s.throwIfAborted();
    this.mb2 = await MobileBackup2Client.start(provider, s);
    this.lockHandle = await acquireSyncLock(this.np, this.afc, s);
    return this.mb2;
  }

  /** After the request: the device may now take long to prepare; its first message starts the transfer. */
  setWatchdogPhase(phase: WatchdogPhase): void {
    if (this.options.tracker.snapshot.stage === 'waiting-for-passcode' && phase !== 'paused') return;
    this.watchdog?.setPhase(phase);
  }

  /** Releases the lock (unless the iPhone is restarting and drops everything anyway) and closes all; never throws. */
  async close(options: { releaseLock?: boolean } = {}): Promise<void> {
    this.options.signal?.removeEventListener('abort', this.onCallerAbort);
    this.options.tracker.dispose();
    // Still watched: a link that hangs during the goodbyes must not hang the caller.
    if (options.releaseLock !== false) await releaseSyncLock(this.np, this.afc, this.lockHandle);
    if (this.mb2) await this.mb2.disconnect().catch(() => undefined);
    if (this.np) await this.np.close().catch(() => undefined);
    if (this.afc) await this.afc.disconnect().catch(() => undefined);
    this.watchdog?.dispose();
  }

  /** The error a person sees for `e`: a cancel stays a cancel, a dropped link is a disconnect. */
  translate(e: unknown): unknown {
    if (this.stallError) return this.stallError;
    if (this.abort.signal.aborted) return new CancelledError(this.cancelReason);
    if (e instanceof ProtocolError && this.options.disconnectPattern.test(e.message)) {
      return new DeviceDisconnectedError(this.options.disconnectedText, e);
    }
    if (e instanceof Error && !(e instanceof LifeboatError) && /stream closed/.test(e.message)) return new DeviceDisconnectedError(undefined, e);
    return e;
  }

  private stalled(error: TimeoutError): void {
    this.stallError ??= error;
    if (!this.abort.signal.aborted) this.abort.abort(error);
  }

  private onNotification(name: string): void {
    const tracker = this.options.tracker;
    if (name === NOTIFICATIONS.syncCancelRequest) this.cancel(this.options.cancelledOnDeviceText);
    else if (name === NOTIFICATIONS.passcodeUiPresented) {
      tracker.setStage('waiting-for-passcode');
      this.watchdog?.setPhase('paused');
    } else if (name === NOTIFICATIONS.passcodeUiDismissed) {
      const receiving = tracker.snapshot.bytesReceived > 0;
      tracker.setStage(receiving ? 'receiving' : 'device-preparing');
      this.watchdog?.setPhase(receiving ? 'transfer' : 'preparing');
    }
  }
}
