import type { ByteStream } from '../../core/byte-stream.ts';
import { isPlistDict, PlistConnection } from '../../plist/index.ts';
import type { NotificationCenter } from './notification-center.ts';

export const NOTIFICATION_PROXY_SERVICE = 'com.apple.mobile.notification_proxy';

/**
 * com.apple.mobile.notification_proxy: ObserveNotification subscribes this connection,
 * PostNotification posts device-wide, observed names come back as RelayNotification, and
 * Shutdown is answered with ProxyDeath.
 */
export function notificationProxyHandler(center: NotificationCenter): (stream: ByteStream) => void {
  return (stream) => {
    void serveNotificationProxy(stream, center).catch(() => stream.close());
  };
}

async function serveNotificationProxy(stream: ByteStream, center: NotificationCenter): Promise<void> {
  const conn = new PlistConnection(stream, 'notification_proxy');
  const observed = new Set<string>();
  let open = true;
  const off = center.subscribe((name) => {
    if (open && observed.has(name)) void conn.send({ Command: 'RelayNotification', Name: name }).catch(() => undefined);
  });
  try {
    for (;;) {
      const message = await conn.receiveOrEnd();
      if (message === null || !isPlistDict(message)) break;
      const command = message['Command'];
      const name = message['Name'];
      if (command === 'ObserveNotification' && typeof name === 'string') observed.add(name);
      else if (command === 'PostNotification' && typeof name === 'string') center.post(name);
      else if (command === 'Shutdown') {
        open = false;
        await conn.send({ Command: 'ProxyDeath' });
        break;
      }
    }
  } finally {
    open = false;
    off();
    await stream.close();
  }
}
