import type { ByteStream } from '../core/byte-stream.ts';
import type { UsbMuxTransport } from '../usb/usb-mux-transport.ts';
import { WebUsbMuxTransport, type WebUsbMuxTransportOptions } from '../usb/webusb-mux-transport.ts';
import type { TraceTap } from '../diagnostics/stream-tap.ts';
import type { AttachedDevice, DeviceConnector } from './device-connector.ts';
import { DEFAULT_RECEIVE_WINDOW, MuxSession, type MuxSessionOptions } from './mux-session.ts';

/** The IN transfer size WebUsbMuxTransport uses by default (usbmuxd's 64 KiB DEV_MRU). */
const MAX_TRANSFER_SIZE = 65536;

/** DeviceConnector over our own mux stack on a USB transport (the browser path: no usbmuxd). */
export class MuxDeviceConnector implements DeviceConnector {
  readonly device: AttachedDevice;
  /** Diagnostics tap (the app's Diagnostics view); undefined records nothing. */
  trace: TraceTap | undefined;

  private constructor(readonly session: MuxSession) {
    const transport = session.transport;
    this.device = { udid: transport.udid, productId: transport.productId, connectionType: 'USB' };
  }

  /** Negotiates the mux version on an already-claimed transport. */
  static async open(transport: UsbMuxTransport, options: MuxSessionOptions = {}): Promise<MuxDeviceConnector> {
    return new MuxDeviceConnector(await MuxSession.open(transport, options));
  }

  /**
   * The whole bring-up for a WebUSB device: claim the mux interface, negotiate, ready to connect.
   * Unless told otherwise, keeps enough IN transfers queued to cover one receive window, so the device
   * can send a whole window while the host is busy (WebUSB from a worker answers with IPC latency).
   */
  static async fromUsbDevice(
    device: USBDevice,
    options: WebUsbMuxTransportOptions & MuxSessionOptions = {},
  ): Promise<MuxDeviceConnector> {
    const receiveWindow = options.receiveWindow ?? DEFAULT_RECEIVE_WINDOW;
    const transfersInFlight = options.transfersInFlight ?? Math.min(16, Math.max(4, Math.ceil(receiveWindow / MAX_TRANSFER_SIZE)));
    const transport = await WebUsbMuxTransport.open(device, { ...options, transfersInFlight });
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
