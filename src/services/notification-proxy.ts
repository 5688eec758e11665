import { isPlistDict } from '../plist/index.ts';
import { PlistConnection } from '../plist/plist-connection.ts';
import type { ServiceProvider } from './service-provider.ts';

export const NOTIFICATION_PROXY_SERVICE = 'com.apple.mobile.notification_proxy';

export const NOTIFICATIONS = {
  syncWillStart: 'com.apple.itunes-mobdev.syncWillStart',
  syncLockRequest: 'com.apple.itunes-mobdev.syncLockRequest',
  syncDidStart: 'com.apple.itunes-mobdev.syncDidStart',
  syncDidFinish: 'com.apple.itunes-mobdev.syncDidFinish',
  syncCancelRequest: 'com.apple.itunes-client.syncCancelRequest',
  syncSuspendRequest: 'com.apple.itunes-client.syncSuspendRequest',
  syncResumeRequest: 'com.apple.itunes-client.syncResumeRequest',
  backupDomainChanged: 'com.apple.mobile.backup.domain_changed',
  passcodeUiPresented: 'com.apple.LocalAuthentication.ui.presented',
  passcodeUiDismissed: 'com.apple.LocalAuthentication.ui.dismissed',
} as const;

/**
 * notification_proxy: observe and post device-wide notifications. Relayed notifications arrive on
 * `onNotification` listeners as they come, and as an async stream via `events()`.
 */
export class NotificationProxyClient {
  private readonly listeners = new Set<(name: string) => void>();
  private readonly ended: Promise<void>;

  private constructor(private readonly conn: PlistConnection) {
    this.ended = this.pump();
  }

  static async start(provider: ServiceProvider): Promise<NotificationProxyClient> {
    return new NotificationProxyClient(new PlistConnection(await provider.startService(NOTIFICATION_PROXY_SERVICE), 'notification_proxy'));
  }

  observe(name: string): Promise<void> {
    return this.conn.send({ Command: 'ObserveNotification', Name: name }, 'binary');
  }

  post(name: string): Promise<void> {
    return this.conn.send({ Command: 'PostNotification', Name: name }, 'binary');
  }

  /** Returns an unsubscribe function. */
  onNotification(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Notifications as an async stream; ends when the proxy closes. */
  async *events(): AsyncIterable<string> {
    const queue: string[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const off = this.onNotification((n) => {
      queue.push(n);
      wake?.();
    });
    void this.ended.then(() => {
      done = true;
      wake?.();
    });
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (done) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      off();
    }
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const msg = await this.conn.receiveOrEnd();
        if (msg === null || !isPlistDict(msg)) return;
        if (msg.Command === 'RelayNotification' && typeof msg.Name === 'string') {
          for (const l of [...this.listeners]) l(msg.Name);
        } else if (msg.Command === 'ProxyDeath') {
          return;
        }
      }
    } catch {
      // The connection dropping ends the stream; the backup notices on its own link.
    }
  }

  /** Polite goodbye (Shutdown → ProxyDeath), then close. */
  async close(): Promise<void> {
    try {
      await this.conn.send({ Command: 'Shutdown' }, 'binary');
      // Wait up to a second for ProxyDeath; the timer is cleared so it never keeps a CLI process alive.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.ended, new Promise((r) => (timer = setTimeout(r, 1000)))]);
      clearTimeout(timer);
    } catch {
      // already gone
    }
    await this.conn.close();
  }
}
