import { NOTIFICATIONS, type NotificationCenter } from './notification-center.ts';

/**
 * The on-device passcode sheet iOS ≥ 16.1 shows before a backup (and iOS 13+ before changing the
 * backup password): presented/dismissed notifications around a wait for `enter()`.
 */
export class PasscodeGate {
  private waiters: (() => void)[] = [];
  /** True while the sheet is on screen. */
  presented = false;

  constructor(
    private readonly notifications: NotificationCenter,
    /** How long the sheet waits before the device gives up (iOS 16.1: ~3 min). */
    readonly timeoutMs = 180_000,
  ) {}

  /** Shows the sheet; true once the passcode is entered, false on timeout. */
  async prompt(): Promise<boolean> {
    this.presented = true;
    this.notifications.post(NOTIFICATIONS.passcodePresented);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const entered = await new Promise<boolean>((resolve) => {
      const done = (): void => resolve(true);
      this.waiters.push(done);
      timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, this.timeoutMs);
    });
    clearTimeout(timer);
    this.presented = false;
    this.notifications.post(NOTIFICATIONS.passcodeDismissed);
    return entered;
  }

  /** The person types the passcode on the phone. */
  enter(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
