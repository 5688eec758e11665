import { UsbmuxdClient } from '../usbmux/node/usbmuxd-client.ts';
import { UsbmuxdDeviceConnector } from '../usbmux/node/usbmuxd-device-connector.ts';
import type { ParsedArgs } from './args.ts';
import { cliTraceTap } from './trace.ts';

/** The usbmuxd client for a command: `--usbmuxd`, else USBMUXD_SOCKET_ADDRESS, else /var/run/usbmuxd. */
export function usbmuxdClientFor(args: ParsedArgs): UsbmuxdClient {
  const address = args.string('usbmuxd') ?? args.env['USBMUXD_SOCKET_ADDRESS'];
  return new UsbmuxdClient(address !== undefined && address !== '' ? { address, progName: 'lifeboat-cli' } : { progName: 'lifeboat-cli' });
}

/**
 * The device a command works on (`--udid`, or the only one attached) and its pair-record source:
 * the usbmuxd client itself, so the CLI shares pairing with libimobiledevice's tools.
 */
export async function openDevice(args: ParsedArgs): Promise<{ connector: UsbmuxdDeviceConnector; client: UsbmuxdClient }> {
  const client = usbmuxdClientFor(args);
  const udid = args.string('udid');
  const connector = await UsbmuxdDeviceConnector.open(udid === undefined ? { client } : { client, udid });
  if (args.trace) connector.trace = cliTraceTap(args.trace, connector.device);
  return { connector, client };
}
