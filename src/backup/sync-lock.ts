import { AFC_LOCK, AFC_MODE, type AfcClient } from '../services/afc.ts';
import { NOTIFICATIONS, type NotificationProxyClient } from '../services/notification-proxy.ts';

/** The file every sync host locks so only one of them backs up or restores at a time. */
export const SYNC_LOCK_FILE = '/com.apple.itunes.lock_sync';

/**
 * Finder's sync handshake (backup.md §4.2): announce, open the lock file, request the lock, take it
 * (retrying while another host holds it), announce the start. Returns the lock file handle.
 */
export async function acquireSyncLock(np: NotificationProxyClient, afc: AfcClient, signal?: AbortSignal): Promise<bigint> {
  await np.post(NOTIFICATIONS.syncWillStart);
  const handle = await afc.open(SYNC_LOCK_FILE, AFC_MODE.READ_WRITE);
  try {
    await np.post(NOTIFICATIONS.syncLockRequest);
    await afc.lockExclusiveWithRetry(handle, { signal });
    await np.post(NOTIFICATIONS.syncDidStart);
    return handle;
  } catch (e) {
    await afc.close(handle).catch(() => undefined);
    throw e;
  }
}

/** Unlocks and closes the lock file and tells the device the sync is over; never throws. */
export async function releaseSyncLock(np: NotificationProxyClient | undefined, afc: AfcClient | undefined, handle: bigint | undefined): Promise<void> {
  if (afc && handle !== undefined) {
    await afc.lock(handle, AFC_LOCK.UNLOCK).catch(() => undefined);
    await afc.close(handle).catch(() => undefined);
  }
  if (np) await np.post(NOTIFICATIONS.syncDidFinish).catch(() => undefined);
}
