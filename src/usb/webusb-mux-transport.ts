import { DeviceDisconnectedError, LifeboatError, ProtocolError } from '../core/errors.ts';
import { APPLE_VENDOR_ID, udidFromSerialNumber } from './apple-usb.ts';
import { deviceBusyError, type HostOs } from './device-busy.ts';
import { findMuxInterface, type MuxInterfaceLocation } from './mux-interface.ts';
import { domErrorName, isDisconnectError, UnsupportedDeviceError } from './usb-errors.ts';
import type { UsbMuxTransport } from './usb-mux-transport.ts';
import { canRecycleTransfers, type TransferRecyclingDevice } from './transfer-recycling.ts';

/** Whatever fires WebUSB's `disconnect` events: `navigator.usb`, or the fake's FakeUsb. */
export type UsbEventSource = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;

export interface WebUsbMuxTransportOptions {
  /** Source of `disconnect` events (default `navigator.usb` when present). */
  usb?: UsbEventSource;
  /** IN transfers kept queued at all times (≥ 3; usbmuxd uses 3). */
  transfersInFlight?: number;
  /** Bytes per IN transfer, rounded to the endpoint packet size and kept within 16–64 KiB. */
  transferSize?: number;
  /** For the DeviceBusyError advice; detected from the browser by default. */
  os?: HostOs;
}

const EMPTY = new Uint8Array(0);
const CLOSED = Symbol('closed');
const noop = (): void => {};

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * A UsbMuxTransport over any WebUSB USBDevice (navigator.usb's, the virtual iPhone's, or a worker proxy).
 * Several IN transfers stay queued so the device never waits for the host to re-arm a read; results are
 * taken strictly in submission order, and reading is what re-arms one, so an idle consumer holds at most
 * `transfersInFlight` buffers.
 */
export class WebUsbMuxTransport implements UsbMuxTransport {
  readonly serialNumber: string;
  readonly udid: string;
  readonly productId: number;
  readonly location: MuxInterfaceLocation;

  private readonly inFlight: Promise<USBInTransferResult>[] = [];
  private readonly transferSize: number;
  /** The device when it takes transfer buffers back (our simulated ones); real WebUSB never does. */
  private readonly recycler: TransferRecyclingDevice | undefined;
  private failure: LifeboatError | undefined;
  private closed = false;
  /** Settles every transfer we await at once on unplug or close (no long-lived Promise.race). */
  private readonly waiting = new Set<Waiter>();
  private readonly onDisconnect = (event: Event): void => {
    if ((event as Partial<USBConnectionEvent>).device === this.device) this.fail(new DeviceDisconnectedError());
  };

  private constructor(
    readonly device: USBDevice,
    location: MuxInterfaceLocation,
    private readonly usb: UsbEventSource | undefined,
    options: WebUsbMuxTransportOptions,
  ) {
    this.location = location;
    this.serialNumber = device.serialNumber ?? '';
    this.udid = udidFromSerialNumber(this.serialNumber);
    this.productId = device.productId;
    this.recycler = canRecycleTransfers(device) ? device : undefined;
    const packet = location.inPacketSize;
    const wanted = Math.min(65536, Math.max(16384, options.transferSize ?? 65536));
    this.transferSize = Math.max(packet, Math.floor(wanted / packet) * packet);
    usb?.addEventListener('disconnect', this.onDisconnect);
    const count = Math.max(3, options.transfersInFlight ?? 4);
    for (let i = 0; i < count; i++) this.inFlight.push(this.submitIn());
  }

  /** Opens the device, selects the configuration holding the mux interface and claims it. */
  static async open(device: USBDevice, options: WebUsbMuxTransportOptions = {}): Promise<WebUsbMuxTransport> {
    if (device.vendorId !== APPLE_VENDOR_ID) {
      throw new UnsupportedDeviceError(`${device.productName ?? 'This device'} is not an Apple device.`);
    }
    const location = findMuxInterface(device);
    const usb = options.usb ?? (globalThis.navigator as Navigator | undefined)?.usb;
    try {
      if (!device.opened) await device.open();
      if (device.configuration?.configurationValue !== location.configurationValue) {
        await device.selectConfiguration(location.configurationValue);
      }
      await device.claimInterface(location.interfaceNumber);
    } catch (error) {
      const name = domErrorName(error);
      if (name === 'NotFoundError') throw new DeviceDisconnectedError(undefined, error);
      if (name === 'NetworkError' || name === 'SecurityError' || name === 'InvalidStateError') {
        await device.close().catch(noop);
        throw deviceBusyError(error, options.os);
      }
      throw error;
    }
    return new WebUsbMuxTransport(device, location, usb, options);
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closed) return null;
      const head = this.inFlight.shift()!;
      this.inFlight.push(this.submitIn());
      let result: USBInTransferResult | typeof CLOSED;
      try {
        result = await this.track(head);
      } catch (error) {
        throw this.failWith(error);
      }
      if (result === CLOSED) return null;
      if (result.status === 'ok') {
        const data = result.data;
        if (data && data.byteLength > 0) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        continue;
      }
      if (result.status === 'stall') {
        await this.device.clearHalt('in', this.location.inEndpoint).catch((error: unknown) => {
          throw this.failWith(error);
        });
        continue;
      }
      throw this.failWith(new ProtocolError('usb', `IN transfer overflowed (babble) on endpoint ${this.location.inEndpoint}`));
    }
  }

  release(chunk: Uint8Array): void {
    if (this.recycler && !this.failure && !this.closed) this.recycler.recycleTransferBuffer(chunk.buffer as ArrayBuffer);
  }

  async write(packet: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new DeviceDisconnectedError('The connection to the device was closed.');
    // WebUSB refuses views on SharedArrayBuffer.
    const data =
      typeof SharedArrayBuffer !== 'undefined' && packet.buffer instanceof SharedArrayBuffer ? packet.slice() : packet;
    const endpoint = this.location.outEndpoint;
    // Issue the ZLP right behind its transfer, before anything else can queue between them.
    const main = this.device.transferOut(endpoint, data as Uint8Array<ArrayBuffer>);
    main.catch(noop);
    let zlp: Promise<USBOutTransferResult> | undefined;
    if (data.byteLength > 0 && data.byteLength % this.location.outPacketSize === 0) {
      zlp = this.device.transferOut(endpoint, EMPTY);
      zlp.catch(noop);
    }
    await this.awaitOut(main);
    if (zlp) await this.awaitOut(zlp);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.usb?.removeEventListener('disconnect', this.onDisconnect);
    for (const waiter of [...this.waiting]) waiter.resolve(CLOSED);
    this.waiting.clear();
    if (this.failure) return;
    try {
      await this.device.releaseInterface(this.location.interfaceNumber);
    } catch {
      // Already gone or released; closing is best effort.
    }
    await this.device.close().catch(noop);
  }

  private async awaitOut(transfer: Promise<USBOutTransferResult>): Promise<void> {
    let result: USBOutTransferResult | typeof CLOSED;
    try {
      result = await this.track(transfer);
    } catch (error) {
      throw this.failWith(error);
    }
    if (result === CLOSED) throw new DeviceDisconnectedError('The connection to the device was closed.');
    if (result.status !== 'ok') {
      await this.device.clearHalt('out', this.location.outEndpoint).catch(noop);
      throw this.failWith(new ProtocolError('usb', `OUT transfer ended with status ${result.status}`));
    }
  }

  /** `transfer`, or CLOSED / the failure as soon as the transport closes or fails. */
  private track<T>(transfer: Promise<T>): Promise<T | typeof CLOSED> {
    return new Promise<T | typeof CLOSED>((resolve, reject) => {
      const waiter: Waiter = { resolve: resolve as (value: unknown) => void, reject };
      this.waiting.add(waiter);
      transfer.then(
        (value) => {
          this.waiting.delete(waiter);
          resolve(value);
        },
        (error: unknown) => {
          this.waiting.delete(waiter);
          reject(error);
        },
      );
    });
  }

  private submitIn(): Promise<USBInTransferResult> {
    if (this.failure || this.closed) {
      const never = Promise.reject(this.failure ?? new DeviceDisconnectedError());
      never.catch(noop);
      return never;
    }
    const transfer = this.device.transferIn(this.location.inEndpoint, this.transferSize);
    transfer.catch(noop);
    return transfer;
  }

  /** Maps a transfer failure to our error and poisons the transport with it. */
  private failWith(error: unknown): LifeboatError {
    if (this.failure) return this.failure;
    if (this.closed) return new DeviceDisconnectedError('The connection to the device was closed.', error);
    const mapped =
      error instanceof LifeboatError
        ? error
        : isDisconnectError(error) || domErrorName(error) === 'AbortError'
          ? new DeviceDisconnectedError(undefined, error)
          : new ProtocolError('usb', `transfer failed: ${String(error)}`, undefined, error);
    this.fail(mapped);
    return mapped;
  }

  private fail(error: LifeboatError): void {
    if (this.failure || this.closed) return;
    this.failure = error;
    this.usb?.removeEventListener('disconnect', this.onDisconnect);
    for (const waiter of [...this.waiting]) waiter.reject(error);
    this.waiting.clear();
  }
}
