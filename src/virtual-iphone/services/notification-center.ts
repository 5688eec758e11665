/** The device-wide notification bus notification_proxy relays (Darwin notify, in miniature). */
export class NotificationCenter {
  private readonly listeners = new Set<(name: string) => void>();
  /** Every notification posted, in order (tests read this). */
  readonly posted: string[] = [];

  post(name: string): void {
    this.posted.push(name);
    for (const listener of [...this.listeners]) listener(name);
  }

  subscribe(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the next post of `name` (or of any name when omitted). */
  next(name?: string): Promise<string> {
    return new Promise((resolve) => {
      const off = this.subscribe((posted) => {
        if (name === undefined || posted === name) {
          off();
          resolve(posted);
        }
      });
    });
  }
}

export const NOTIFICATIONS = {
  passcodePresented: 'com.apple.LocalAuthentication.ui.presented',
  passcodeDismissed: 'com.apple.LocalAuthentication.ui.dismissed',
  syncCancelRequest: 'com.apple.itunes-client.syncCancelRequest',
  backupDomainChanged: 'com.apple.mobile.backup.domain_changed',
} as const;
