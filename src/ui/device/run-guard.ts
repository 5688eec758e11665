/**
 * What keeps a long backup or restore alive on the person's own machine: a Screen Wake Lock (the
 * screen going to sleep can suspend the tab and, on laptops, USB), taken again whenever the tab becomes
 * visible (the browser drops it on hide); a beforeunload warning so closing the tab is a choice; and a
 * system notification when a long run ends while the tab is hidden, if the person allowed notifications.
 * The browser objects are injected so Node tests can drive every path.
 */
export interface WakeLockSentinelLike {
  readonly released: boolean;
  release(): Promise<void>;
}

export interface RunGuardEnvironment {
  /** navigator.wakeLock, when the browser has it. */
  wakeLock?: { request(type: 'screen'): Promise<WakeLockSentinelLike> } | undefined;
  /** The document: its visibility, and visibilitychange. */
  page: { readonly visibilityState: DocumentVisibilityState } & Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
  /** The window: beforeunload. */
  window: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
  /** Shows a system notification when the person allowed them; returns false when not allowed. */
  notify(title: string, body: string): boolean;
  now(): number;
}

/** A run shorter than this ended while the person was likely still watching: no notification. */
export const LONG_RUN_MS = 20_000;

export interface RunOutcome {
  ok: boolean;
  /** One line: what happened ("4,210 files, 1.2 GB" or the error's message). */
  summary: string;
}

export interface GuardedRun {
  /** Ends the run: releases the wake lock, drops the warning, and notifies when the run was long and the tab is hidden. */
  finish(outcome: RunOutcome): void;
  /** Whether a wake lock is held right now (for tests and the UI). */
  readonly holdsWakeLock: boolean;
}

export function guardRun(kind: 'backup' | 'restore', env: RunGuardEnvironment): GuardedRun {
  const started = env.now();
  let lock: WakeLockSentinelLike | undefined;
  let finished = false;

  const acquire = async (): Promise<void> => {
    if (!env.wakeLock || finished || env.page.visibilityState !== 'visible' || (lock && !lock.released)) return;
    try {
      const sentinel = await env.wakeLock.request('screen');
      if (finished) await sentinel.release();
      else lock = sentinel;
    } catch {
      // Refused (battery saver, policy, hidden in the meantime): the run goes on without it.
    }
  };
  const onVisibility = (): void => void acquire();
  const onBeforeUnload = (event: Event): void => {
    event.preventDefault();
    // Older Chromium shows the prompt only when returnValue is set.
    if (typeof BeforeUnloadEvent !== 'undefined' && event instanceof BeforeUnloadEvent) event.returnValue = '';
  };

  env.page.addEventListener('visibilitychange', onVisibility);
  env.window.addEventListener('beforeunload', onBeforeUnload);
  void acquire();

  return {
    get holdsWakeLock() {
      return lock !== undefined && !lock.released;
    },
    finish(outcome: RunOutcome): void {
      if (finished) return;
      finished = true;
      env.page.removeEventListener('visibilitychange', onVisibility);
      env.window.removeEventListener('beforeunload', onBeforeUnload);
      void lock?.release().catch(() => undefined);
      lock = undefined;
      if (env.page.visibilityState === 'hidden' && env.now() - started >= LONG_RUN_MS) {
        const what = kind === 'backup' ? 'Backup' : 'Restore';
        env.notify(outcome.ok ? `${what} complete` : `${what} did not finish`, outcome.summary);
      }
    },
  };
}

/** The browser's own objects; notifications go through the service worker when there is one (Android needs it). */
export function browserRunGuardEnvironment(): RunGuardEnvironment {
  const wakeLock = (navigator as Navigator & { wakeLock?: RunGuardEnvironment['wakeLock'] }).wakeLock;
  return {
    wakeLock,
    page: document,
    window,
    now: () => Date.now(),
    notify(title, body) {
      if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return false;
      const options: NotificationOptions = { body, icon: '/favicon.svg', tag: 'lifeboat-run' };
      const direct = () => {
        try {
          new Notification(title, options);
        } catch {
          // Some platforms only allow notifications from a service worker.
        }
      };
      if (navigator.serviceWorker?.controller) {
        void navigator.serviceWorker.ready.then((registration) => registration.showNotification(title, options)).catch(direct);
      } else direct();
      return true;
    },
  };
}

/** Whether to offer "Notify me when it ends": the browser has notifications and the person has not decided yet. */
export function canAskForNotifications(): boolean {
  return typeof Notification !== 'undefined' && Notification.permission === 'default';
}
