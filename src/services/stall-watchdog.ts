import type { ByteStream } from '../core/byte-stream.ts';
import { TimeoutError } from '../core/errors.ts';
import type { ServiceProvider } from './service-provider.ts';

/** How long the device may stay silent while the host waits on it. */
export interface StallLimits {
  /** Mid-transfer: once the device has started its part (default 5 minutes). */
  transferMs?: number;
  /**
   * Before the device's first message after a request: a real iPhone scans its data first and can
   * take many minutes on a big or slow device (default 30 minutes; idevicebackup2 waits forever).
   */
  preparingMs?: number;
}

export type WatchdogPhase = 'preparing' | 'transfer' | 'paused';

const DEFAULT_TRANSFER_MS = 5 * 60_000;
const DEFAULT_PREPARING_MS = 30 * 60_000;
/** notification_proxy waits for notifications for the whole run: a read pending there is normal (its writes are watched). */
const READ_UNWATCHED_SERVICES = new Set(['com.apple.mobile.notification_proxy']);

/**
 * A ServiceProvider decorator that notices a hung link: a read or write on a watched service that
 * has been waiting past the phase's limit with no byte moving on any watched stream. A USB hub
 * that stops forwarding or a device that hangs would otherwise leave the run waiting for ever.
 * On a stall it reports a TimeoutError and closes the watched streams so every pending read ends.
 */
export class StallWatchdog implements ServiceProvider {
  private readonly streams = new Set<ByteStream>();
  private lastActivity = Date.now();
  private pending = 0;
  private phase: WatchdogPhase = 'transfer';
  private timer: ReturnType<typeof setInterval> | undefined;
  private fired = false;

  constructor(
    private readonly inner: ServiceProvider,
    private readonly limits: StallLimits,
    private readonly onStall: (error: TimeoutError) => void,
  ) {}

  async startService(name: string, options?: { withEscrowBag?: boolean }): Promise<ByteStream> {
    const stream = await this.inner.startService(name, options);
    this.startTimer();
    const watched = new WatchedStream(stream, this, !READ_UNWATCHED_SERVICES.has(name));
    this.streams.add(watched);
    return watched;
  }

  /** `paused` while the person is asked for the passcode: the device waits on them, not on us. */
  setPhase(phase: WatchdogPhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.lastActivity = Date.now();
  }

  dispose(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** @internal WatchedStream bookkeeping. */
  began(): void {
    this.pending++;
  }

  /** @internal */
  ended(moved: boolean, wasPending = true): void {
    if (wasPending) this.pending--;
    if (moved) this.lastActivity = Date.now();
  }

  /** @internal */
  forget(stream: ByteStream): void {
    this.streams.delete(stream);
  }

  private limit(): number {
    return this.phase === 'preparing' ? (this.limits.preparingMs ?? DEFAULT_PREPARING_MS) : (this.limits.transferMs ?? DEFAULT_TRANSFER_MS);
  }

  private startTimer(): void {
    if (this.timer !== undefined || this.fired) return;
    const period = Math.max(10, Math.min(1000, Math.floor(Math.min(this.limits.transferMs ?? DEFAULT_TRANSFER_MS, this.limits.preparingMs ?? DEFAULT_PREPARING_MS) / 4)));
    this.timer = setInterval(() => this.check(), period);
    // Node: a watchdog alone must not keep the process alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private check(): void {
    if (this.fired || this.phase === 'paused' || this.pending === 0) return;
    const silentMs = Date.now() - this.lastActivity;
    const limit = this.limit();
    if (silentMs <= limit) return;
    this.fired = true;
    this.dispose();
    const what = this.phase === 'preparing' ? 'while preparing' : 'mid-transfer';
    this.onStall(
      new TimeoutError(
        `The iPhone stopped responding ${what}: nothing arrived for ${Math.round(silentMs / 1000)} s. What was received so far is kept; unplug and reconnect it, then try again.`,
      ),
    );
    for (const s of [...this.streams]) void s.close().catch(() => undefined);
  }
}

class WatchedStream implements ByteStream {
  /** Offered only when the inner stream offers it (BufferedReader copies exactly then). */
  readonly readInto?: (target: Uint8Array) => Promise<number | null>;

  constructor(
    private readonly inner: ByteStream,
    private readonly watchdog: StallWatchdog,
    private readonly watchReads: boolean,
  ) {
    const readInto = inner.readInto?.bind(inner);
    if (readInto) this.readInto = (target) => this.watched(() => readInto(target), (n) => n !== null && n > 0);
  }

  read(): Promise<Uint8Array | null> {
    return this.watched(() => this.inner.read(), (chunk) => chunk !== null);
  }

  get releasesWrites(): boolean | undefined {
    return this.inner.releasesWrites;
  }

  private async watched<T>(read: () => Promise<T>, movedBy: (result: T) => boolean): Promise<T> {
    if (!this.watchReads) {
      const result = await read();
      if (movedBy(result)) this.watchdog.ended(true, false);
      return result;
    }
    this.watchdog.began();
    let moved = false;
    try {
      const result = await read();
      moved = movedBy(result);
      return result;
    } finally {
      this.watchdog.ended(moved);
    }
  }

  async write(data: Uint8Array): Promise<void> {
    this.watchdog.began();
    let moved = false;
    try {
      await this.inner.write(data);
      moved = true;
    } finally {
      this.watchdog.ended(moved);
    }
  }

  close(): Promise<void> {
    this.watchdog.forget(this);
    return this.inner.close();
  }
}
