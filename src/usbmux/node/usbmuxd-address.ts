import { LifeboatError } from '../../core/errors.ts';

/** Where a usbmuxd socket lives, in the forms libusbmuxd's USBMUXD_SOCKET_ADDRESS accepts. */
export type UsbmuxdAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export const DEFAULT_USBMUXD_SOCKET_PATH = '/var/run/usbmuxd';

/**
 * Parses `UNIX:/path`, `host:port`, `[v6addr]:port`, or a bare absolute path (a convenience libusbmuxd
 * does not offer). Port 0 is allowed so a server can ask the OS for a free port.
 */
export function parseUsbmuxdAddress(text: string): UsbmuxdAddress {
  const trimmed = text.trim();
  if (/^unix:/i.test(trimmed)) {
    const path = trimmed.slice(5);
    if (path.length === 0) throw invalid(text, 'the UNIX: form needs a socket path');
    return { kind: 'unix', path };
  }
  if (trimmed.startsWith('/')) return { kind: 'unix', path: trimmed };
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(trimmed);
  const plain = /^([^:\s]+):(\d+)$/.exec(trimmed);
  const match = bracketed ?? plain;
  if (!match) throw invalid(text, 'expected UNIX:/path/to/socket, host:port or [v6address]:port');
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(text, `port ${match[2]} is out of range`);
  return { kind: 'tcp', host: match[1]!, port };
}

/** The USBMUXD_SOCKET_ADDRESS spelling of an address, which libimobiledevice's tools accept too. */
export function formatUsbmuxdAddress(address: UsbmuxdAddress): string {
  if (address.kind === 'unix') return `UNIX:${address.path}`;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** The address a host tool would use: an explicit one, else USBMUXD_SOCKET_ADDRESS, else /var/run/usbmuxd. */
export function resolveUsbmuxdAddress(explicit?: string, env: Record<string, string | undefined> = process.env): UsbmuxdAddress {
  const text = explicit ?? env['USBMUXD_SOCKET_ADDRESS'];
  if (text !== undefined && text.trim() !== '') return parseUsbmuxdAddress(text);
  return { kind: 'unix', path: DEFAULT_USBMUXD_SOCKET_PATH };
}

function invalid(text: string, why: string): LifeboatError {
  return new LifeboatError('unsupported', `Invalid usbmuxd address "${text}": ${why}.`, {
    action: 'Use UNIX:/path/to/socket or host:port, e.g. USBMUXD_SOCKET_ADDRESS=UNIX:/tmp/virtual-iphone.sock.',
  });
}
