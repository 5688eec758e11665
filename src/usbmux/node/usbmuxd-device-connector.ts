import type { ByteStream } from '../../core/byte-stream.ts';
import { LifeboatError } from '../../core/errors.ts';
import type { TraceTap } from '../../diagnostics/stream-tap.ts';
import type { DeviceConnector } from '../device-connector.ts';
import { UsbmuxdClient, type UsbmuxdClientOptions, type UsbmuxdDevice } from './usbmuxd-client.ts';

/** Opens device ports through usbmuxd: the Node counterpart of the WebUSB mux stack. */
export class UsbmuxdDeviceConnector implements DeviceConnector {
  /** Diagnostics tap (the CLI's `--trace FILE`); undefined records nothing. */
  trace: TraceTap | undefined;

  constructor(
    readonly client: UsbmuxdClient,
    readonly device: UsbmuxdDevice,
  ) {}

  connect(port: number): Promise<ByteStream> {
    return this.client.connect(this.device.deviceId, port);
  }

  /**
   * The connector for the device with `udid`, or for the only attached device when no UDID is given.
   * Prefers the USB entry when a device is also visible over the network.
   */
  static async open(options: UsbmuxdClientOptions & { udid?: string; client?: UsbmuxdClient } = {}): Promise<UsbmuxdDeviceConnector> {
    const client = options.client ?? new UsbmuxdClient(options);
    const devices = await client.listDevices();
    const wanted = options.udid;
    const candidates = wanted === undefined ? devices : devices.filter((d) => sameUdid(d.udid, wanted));
    const usb = candidates.filter((d) => d.connectionType === 'USB');
    const pool = usb.length > 0 ? usb : candidates;
    const distinct = new Set(pool.map((d) => d.udid));
    if (pool.length === 0) {
      throw new LifeboatError(
        'device-disconnected',
        wanted === undefined ? 'No iPhone is connected.' : `The device ${wanted} is not connected.`,
        { action: 'Connect the iPhone with a cable and unlock it, then try again.' },
      );
    }
    if (distinct.size > 1) {
      throw new LifeboatError('device-busy', `${distinct.size} devices are connected.`, {
        action: `Choose one with --udid (${[...distinct].join(', ')}).`,
      });
    }
    return new UsbmuxdDeviceConnector(client, pool[0]!);
  }
}

function sameUdid(a: string, b: string): boolean {
  return a.replace(/-/g, '').toLowerCase() === b.replace(/-/g, '').toLowerCase();
}
