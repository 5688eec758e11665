export type BackupStage = 'preparing' | 'waiting-for-passcode' | 'device-preparing' | 'receiving' | 'finishing' | 'done';

export interface BackupProgress {
  stage: BackupStage;
  bytesReceived: number;
  filesReceived: number;
  /** Recent receive rate (bytes/s over the last few seconds). */
  bytesPerSecond: number;
  /** Device-reported overall percent (0–100), or null before it says anything. */
  percent: number | null;
  /** Seconds left, estimated from the device's percent; null while unknown. */
  etaSeconds: number | null;
  warnings: number;
}

const RATE_WINDOW_MS = 5000;
/** Percentage points the device's percent must have moved since receiving began before it is used for an ETA. */
const MIN_PERCENT_FOR_ETA = 1;

/**
 * Turns the DL loop's events into progress a person can trust, and emits at most one event per
 * `intervalMs` (stage changes always go out at once).
 */
export class ProgressTracker {
  private readonly state: BackupProgress = {
    stage: 'preparing',
    bytesReceived: 0,
    filesReceived: 0,
    bytesPerSecond: 0,
    percent: null,
    etaSeconds: null,
    warnings: 0,
  };
  private readonly samples: { t: number; bytes: number }[] = [];
  private receivingSince: number | null = null;
  private percentAtReceiveStart = 0;
  /** The percent ETA as of the device's last percent change, and when that was: counted down in between. */
  private percentEta: { seconds: number; at: number; percent: number } | null = null;
  /** The UploadFiles batch being received: its announced size and bytesReceived when it began. */
  private batch: { bytes: number; startedAt: number } | null = null;
  private lastEmit = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly emit: ((p: BackupProgress) => void) | undefined,
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get snapshot(): BackupProgress {
    return { ...this.state };
  }

  setStage(stage: BackupStage): void {
    if (this.state.stage === stage) return;
    // The passcode sheet may stay up while the link is quiet; never step back from receiving to it silently.
    this.state.stage = stage;
    if (stage === 'receiving' && this.receivingSince === null) {
      this.receivingSince = this.now();
      this.percentAtReceiveStart = this.state.percent ?? 0;
    }
    this.flush();
  }

  bytes(n: number): void {
    this.state.bytesReceived += n;
    if (this.state.stage !== 'receiving') this.setStage('receiving');
    this.changed();
  }

  file(): void {
    this.state.filesReceived++;
    this.changed();
  }

  percent(p: number): void {
    this.state.percent = p;
    this.changed();
  }

  /** A DLMessageUploadFiles batch of `announcedBytes` begins (one batch may be a single 4 GB video). */
  batchStarted(announcedBytes: number): void {
    this.batch = announcedBytes > 0 ? { bytes: announcedBytes, startedAt: this.state.bytesReceived } : null;
  }

  warning(): void {
    this.state.warnings++;
    this.changed();
  }

  /** Emits now, cancelling any pending throttled emit. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.compute();
    this.lastEmit = this.now();
    this.emit?.(this.snapshot);
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private changed(): void {
    if (!this.emit || this.timer !== undefined) return;
    const wait = this.intervalMs - (this.now() - this.lastEmit);
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  private compute(): void {
    const t = this.now();
    this.samples.push({ t, bytes: this.state.bytesReceived });
    while (this.samples.length > 2 && t - this.samples[0]!.t > RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (t - first.t) / 1000;
    this.state.bytesPerSecond = dt > 0 ? (this.state.bytesReceived - first.bytes) / dt : 0;
    const p = this.state.percent;
    if (p !== null && p >= 100) {
      this.state.etaSeconds = 0;
      return;
    }
    // The device's percent moves only between messages: inside one long batch it stands still while
    // bytes flow. Estimate from the percent when it moves and count down in between; never promise
    // less than what is left of the current batch at the current rate.
    // A percent that has moved less than one point says little: at 0.4 % after 8 s it would promise
    // half an hour for a backup that is one big file arriving at 100 MB/s.
    if (this.receivingSince !== null && p !== null && p >= this.percentAtReceiveStart + MIN_PERCENT_FOR_ETA && p !== this.percentEta?.percent) {
      const elapsed = (t - this.receivingSince) / 1000;
      const rate = (p - this.percentAtReceiveStart) / elapsed;
      this.percentEta = rate > 0 ? { seconds: (100 - p) / rate, at: t, percent: p } : null;
    }
    const fromPercent = this.percentEta ? Math.max(0, this.percentEta.seconds - (t - this.percentEta.at) / 1000) : null;
    const batchLeft = this.batch ? this.batch.bytes - (this.state.bytesReceived - this.batch.startedAt) : 0;
    const fromBatch = batchLeft > 0 && this.state.bytesPerSecond > 0 ? batchLeft / this.state.bytesPerSecond : null;
    const eta = fromPercent === null ? fromBatch : fromBatch === null ? fromPercent : Math.max(fromPercent, fromBatch);
    this.state.etaSeconds = eta === null ? null : Math.round(eta);
  }
}
