import { CancelledError, DeviceDisconnectedError, LifeboatError, ProtocolError } from '../core/errors.ts';
import { MobileBackup2Client, type DeviceLinkFileSystem } from '../services/mobilebackup2.ts';
import { NOTIFICATIONS, NotificationProxyClient } from '../services/notification-proxy.ts';
import type { ServiceProvider } from '../services/service-provider.ts';
import { StallWatchdog, type StallLimits } from '../services/stall-watchdog.ts';
import { StoreError } from '../stores/errors.ts';
import { errorForDeviceCode } from './backup-engine.ts';

export interface PasswordChangeOptions {
  udid: string;
  signal?: AbortSignal;
  /** Called when the iPhone shows (true) or hides (false) its passcode sheet (iOS 13+ asks to confirm). */
  onPasscodePrompt?: (shown: boolean) => void;
  /** How long the device may stay silent before the change fails with a TimeoutError. */
  stall?: StallLimits;
}

/** ChangePassword touches no files; any file request the device makes is answered "not there". */
const NO_FILES: DeviceLinkFileSystem = {
  createFile: async (p) => {
    throw new StoreError('EACCES', p);
  },
  read: (p) => ({
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.reject(new StoreError('ENOENT', p)),
    }),
  }),
  list: async (p) => {
    throw new StoreError('ENOENT', p);
  },
  mkdirp: async (p) => {
    throw new StoreError('EACCES', p);
  },
  move: async (p) => {
    throw new StoreError('EACCES', p);
  },
  remove: async () => undefined,
  copy: async (p) => {
    throw new StoreError('EACCES', p);
  },
  freeSpace: async () => 0,
  sync: async () => undefined,
};

async function runChangePassword(
  provider: ServiceProvider,
  passwords: { oldPassword?: string; newPassword?: string },
  options: PasswordChangeOptions,
): Promise<void> {
  let stallError: LifeboatError | undefined;
  const stallAbort = new AbortController();
  const watchdog = new StallWatchdog(provider, options.stall ?? {}, (error) => {
    stallError = error;
    stallAbort.abort(error);
  });
  const signal = options.signal ? AbortSignal.any([options.signal, stallAbort.signal]) : stallAbort.signal;
  let np: NotificationProxyClient | undefined;
  try {
    np = await NotificationProxyClient.start(watchdog);
    np.onNotification((n) => {
      if (n === NOTIFICATIONS.passcodeUiPresented) {
        watchdog.setPhase('paused');
        options.onPasscodePrompt?.(true);
      }
      if (n === NOTIFICATIONS.passcodeUiDismissed) {
        watchdog.setPhase('preparing');
        options.onPasscodePrompt?.(false);
      }
    });
    await np.observe(NOTIFICATIONS.passcodeUiPresented);
    await np.observe(NOTIFICATIONS.passcodeUiDismissed);
  } catch {
    np = undefined; // prompts are informational; the change itself does not need them
  }
  let mb2: MobileBackup2Client | undefined;
  try {
    mb2 = await MobileBackup2Client.start(watchdog, signal);
    await mb2.requestChangePassword(options.udid, passwords);
    watchdog.setPhase('preparing');
    const result = await mb2.runLoop(NO_FILES, {}, signal);
    if (result.errorCode !== 0) throw errorForDeviceCode(result.errorCode, result.errorDescription);
  } catch (e) {
    if (stallError) throw stallError;
    if (options.signal?.aborted && !(e instanceof CancelledError)) throw new CancelledError();
    if (e instanceof ProtocolError && /connection closed|stream closed|ended the session|disconnected/.test(e.message)) {
      throw new DeviceDisconnectedError('The iPhone was disconnected while changing backup encryption. Reconnect it and check the setting: the change may or may not have been made.', e);
    }
    throw e;
  } finally {
    // Still watched: a link that hangs during the goodbye must not hang the caller.
    await mb2?.disconnect();
    await np?.close().catch(() => undefined);
    watchdog.dispose();
  }
}

/**
 * Turns backup encryption on (password = the new backup password) or off (password = the current
 * one). `willEncrypt` is lockdown's com.apple.mobile.backup/WillEncrypt: when it already matches,
 * nothing is sent. The next backup after a change is a full one.
 */
export async function setEncryption(
  provider: ServiceProvider,
  options: PasswordChangeOptions & { enable: boolean; password: string; willEncrypt?: boolean },
): Promise<'changed' | 'unchanged'> {
  if (!options.password) throw new LifeboatError('wrong-password', 'A backup password is required.');
  if (options.willEncrypt === options.enable) return 'unchanged';
  await runChangePassword(provider, options.enable ? { newPassword: options.password } : { oldPassword: options.password }, options);
  return 'changed';
}

export async function changePassword(
  provider: ServiceProvider,
  options: PasswordChangeOptions & { oldPassword: string; newPassword: string },
): Promise<void> {
  if (!options.oldPassword || !options.newPassword) throw new LifeboatError('wrong-password', 'Both the current and the new password are required.');
  await runChangePassword(provider, { oldPassword: options.oldPassword, newPassword: options.newPassword }, options);
}
