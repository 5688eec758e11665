import { DeviceBusyError } from '../core/errors.ts';

export type HostOs = 'linux' | 'windows' | 'macos' | 'chromeos' | 'android' | 'unknown';

interface NavigatorLike {
  userAgent?: string;
  userAgentData?: { platform?: string };
}

/** Which OS the browser runs on, from User-Agent Client Hints when present, else the UA string. */
export function detectHostOs(nav: NavigatorLike | undefined = globalThis.navigator as NavigatorLike | undefined): HostOs {
  const platform = nav?.userAgentData?.platform?.toLowerCase() ?? '';
  const ua = nav?.userAgent?.toLowerCase() ?? '';
  const probe = `${platform} ${ua}`;
  if (probe.includes('android')) return 'android';
  if (probe.includes('cros') || probe.includes('chrome os') || probe.includes('chromeos')) return 'chromeos';
  if (probe.includes('windows') || probe.includes('win32') || probe.includes('win64')) return 'windows';
  if (probe.includes('mac')) return 'macos';
  if (probe.includes('linux') || probe.includes('x11')) return 'linux';
  return 'unknown';
}

const ACTIONS: Record<HostOs, string> = {
  linux:
    'Another program (usually usbmuxd or the GNOME/KDE camera import service) holds the iPhone. ' +
    'Run `sudo systemctl stop usbmuxd` and `pkill gvfsd-gphoto2; pkill gvfs-gphoto2-volume-monitor`, ' +
    'then add a udev rule so the browser may use the device, e.g. ' +
    '`SUBSYSTEM=="usb", ATTR{idVendor}=="05ac", TAG+="uaccess"` in /etc/udev/rules.d/70-lifeboat.rules ' +
    'and run `sudo udevadm control --reload`. Unplug and reconnect the iPhone, then try again.',
  windows:
    "Apple's driver (installed with iTunes or Apple Devices) holds the iPhone, so the browser cannot open it. " +
    'Install the WinUSB driver for the "Apple Mobile Device USB Composite Device" interface with Zadig ' +
    '(Options → List All Devices), or use a computer without Apple\'s driver. Unplug and reconnect, then try again.',
  macos:
    'macOS keeps iPhones for itself and does not let browsers open them. ' +
    'Use Lifeboat on this Mac only to view existing backups, or back up from a Linux, Windows or ChromeOS computer.',
  chromeos: 'Another app is using the iPhone. Close other apps or tabs that use the phone, unplug and reconnect it, then try again.',
  android: 'Another app is using the iPhone. Close other apps that use the phone, unplug and reconnect it, then try again.',
  unknown: 'Another program is using the iPhone. Close programs that talk to iPhones (iTunes, usbmuxd, photo import), reconnect, then try again.',
};

/** The error a failed claimInterface becomes: what happened, and what to do about it on this OS. */
export function deviceBusyError(cause: unknown, os: HostOs = detectHostOs()): DeviceBusyError {
  const message =
    os === 'macos'
      ? 'This Mac does not let the browser use the iPhone.'
      : 'The iPhone is in use by another program, so the browser cannot open it.';
  return new DeviceBusyError(message, ACTIONS[os], cause);
}
