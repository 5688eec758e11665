import type { ByteStream } from '../core/byte-stream.ts';
import type { UsbMuxTransport } from '../usb/usb-mux-transport.ts';
import { WebUsbMuxTransport, type WebUsbMuxTransportOptions } from '../usb/webusb-mux-transport.ts';
import type { AttachedDevice, DeviceConnector } from './device-connector.ts';
import { MuxSession, type MuxSessionOptions } from './mux-session.ts';

/** DeviceConnector over our own mux stack on a USB transport (the browser path: no usbmuxd). */
export class MuxDeviceConnector implements DeviceConnector {
  readonly device: AttachedDevice;

  private constructor(readonly session: MuxSession) {
    const transport = session.transport;
    this.device = { udid: transport.udid, productId: transport.productId, connectionType: 'USB' };
  }

  /** Negotiates the mux version on an already-claimed transport. */
  static async open(transport: UsbMuxTransport, options: MuxSessionOptions = {}): Promise<MuxDeviceConnector> {
    return new MuxDeviceConnector(await MuxSession.open(transport, options));
  }

  /** The whole bring-up for a WebUSB device: claim the mux interface, negotiate, ready to connect. */
  static async fromUsbDevice(
    device: USBDevice,
    options: WebUsbMuxTransportOptions & MuxSessionOptions = {},
  ): Promise<MuxDeviceConnector> {
    const transport = await WebUsbMuxTransport.open(device, options);
    try {
      return await MuxDeviceConnector.open(transport, options);
    } catch (error) {
      await transport.close();
      throw error;
    }
  }

  connect(port: number): Promise<ByteStream> {
    return this.session.connect(port);
  }

  /** Resets every connection and releases the device. */
  close(): Promise<void> {
    return this.session.close();
  }
}
