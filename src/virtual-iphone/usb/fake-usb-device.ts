import type { TransferRecyclingDevice } from '../../usb/transfer-recycling.ts';
import { TransferLease } from '../../usbmux/transfer-lease.ts';
import type { VirtualIPhone } from '../virtual-iphone.ts';
import { DeviceMux, type DeviceMuxOptions, type UsbDeviceFunction } from './device-mux.ts';
import {
  IPHONE_MUX_IN_ENDPOINT,
  IPHONE_MUX_OUT_ENDPOINT,
  DescribedUsbDevice,
  buildUsbConfigurations,
  virtualIPhoneUsbDescriptor,
  type UsbDeviceDescriptor,
} from './usb-descriptors.ts';
import { concatBytes as concat } from '../../core/bytes.ts';

/** A USBDevice that can be unplugged (FakeUsb hears about it and fires `disconnect`). */
export interface PluggableUsbDevice extends USBDevice {
  readonly isUnplugged: boolean;
  unplug(): void;
  onUnplug(listener: () => void): void;
}

export interface FakeUsbDeviceOptions {
  /** Endpoints the function is wired to (default the iPhone's mux pipe, IN 5 / OUT 4). */
  inEndpoint?: number;
  outEndpoint?: number;
  /** Makes claimInterface fail as when another program holds the device (e.g. 'NetworkError'). */
  claimFailure?: string;
}

interface InWaiter {
  length: number;
  resolve: (result: USBInTransferResult) => void;
  reject: (error: unknown) => void;
}

const domError = (name: string, message: string): DOMException => new DOMException(message, name);
const inResult = (status: USBTransferStatus, bytes?: Uint8Array): USBInTransferResult => ({
  status,
  data: bytes ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined,
});
const outResult = (status: USBTransferStatus, bytesWritten: number): USBOutTransferResult => ({ status, bytesWritten });

/**
 * A USBDevice with the semantics of real hardware that a host can get wrong: transfers only on claimed
 * interfaces of the active configuration, OUT transfers that are a multiple of wMaxPacketSize complete
 * only with a zero-length packet, IN reads shorter than the device's packet babble (unless a whole
 * number of max-size packets), and unplug failing pending transfers with NetworkError, later ones with
 * NotFoundError.
 */
export class FakeUsbDevice extends DescribedUsbDevice implements PluggableUsbDevice, TransferRecyclingDevice {
  readonly configurations: USBConfiguration[];

  /** OUT transfers that ended without completing a USB transfer (waiting for a short packet or ZLP). */
  outTransfersAwaitingEnd = 0;

  private activeConfiguration: number;
  private isOpened = false;
  private unplugged = false;
  private readonly claimed = new Set<number>();
  private readonly inQueue: Uint8Array[] = [];
  private inHead = 0;
  private readonly inWaiters: InWaiter[] = [];
  private outParts: Uint8Array[] = [];
  /** How to give back the lent ones among outParts. */
  private outPartsLent: (() => void)[] = [];
  private readonly unplugListeners: (() => void)[] = [];
  private readonly inEndpoint: number;
  private readonly outEndpoint: number;
  private claimFailure: string | undefined;
  private readonly inPacketSize: number;
  /**
   * Buffers of packets handed out whole in one IN transfer: only these may come back for reuse (a
   * packet split across transfers has pieces the host may still hold, so it is never recycled).
   */
  private readonly handedOutWhole = new WeakSet<ArrayBuffer>();

  constructor(
    readonly descriptor: UsbDeviceDescriptor,
    readonly deviceFunction: UsbDeviceFunction,
    options: FakeUsbDeviceOptions = {},
  ) {
    super(descriptor);
    this.activeConfiguration = descriptor.initialConfiguration;
    this.inEndpoint = options.inEndpoint ?? IPHONE_MUX_IN_ENDPOINT;
    this.outEndpoint = options.outEndpoint ?? IPHONE_MUX_OUT_ENDPOINT;
    this.claimFailure = options.claimFailure;
    const inEndpoint = this.inEndpoint;
    this.inPacketSize =
      descriptor.configurations
        .flatMap((c) => c.interfaces.flatMap((i) => i.alternates.flatMap((a) => a.endpoints)))
        .find((e) => e.direction === 'in' && e.endpointNumber === inEndpoint)?.packetSize ?? 512;
    this.configurations = buildUsbConfigurations(
      descriptor,
      (value, iface) => this.isOpened && value === this.activeConfiguration && this.claimed.has(iface),
    );
    deviceFunction.attach((transfer) => this.queueIn(transfer));
  }

  get opened(): boolean {
    return this.isOpened;
  }

  get configuration(): USBConfiguration | null {
    return this.configurations.find((c) => c.configurationValue === this.activeConfiguration) ?? null;
  }

  get isUnplugged(): boolean {
    return this.unplugged;
  }

  /** Simulates another program holding the device: claimInterface rejects with this DOMException name. */
  setClaimFailure(name: string | undefined): void {
    this.claimFailure = name;
  }

  /** IN bytes the device has queued that the host has not read yet. */
  get pendingInBytes(): number {
    let total = 0;
    for (let i = this.inHead; i < this.inQueue.length; i++) total += this.inQueue[i]!.byteLength;
    return total;
  }

  async open(): Promise<void> {
    this.assertPresent();
    this.isOpened = true;
  }

  async close(): Promise<void> {
    this.assertPresent();
    this.abortTransfers();
    this.claimed.clear();
    this.isOpened = false;
  }

  async forget(): Promise<void> {
    if (this.isOpened && !this.unplugged) await this.close();
  }

  async selectConfiguration(configurationValue: number): Promise<void> {
    this.assertOpen();
    if (!this.configurations.some((c) => c.configurationValue === configurationValue)) {
      throw domError('NotFoundError', 'The configuration value provided is not supported by the device.');
    }
    if (configurationValue === this.activeConfiguration) return;
    this.abortTransfers();
    this.claimed.clear();
    this.activeConfiguration = configurationValue;
    this.resetFunction();
  }

  async claimInterface(interfaceNumber: number): Promise<void> {
    this.assertOpen();
    this.findInterface(interfaceNumber);
    if (this.claimFailure) throw domError(this.claimFailure, 'Unable to claim interface.');
    this.claimed.add(interfaceNumber);
  }

  async releaseInterface(interfaceNumber: number): Promise<void> {
    this.assertOpen();
    this.findInterface(interfaceNumber);
    if (this.claimed.delete(interfaceNumber)) this.abortTransfers();
  }

  async selectAlternateInterface(interfaceNumber: number, alternateSetting: number): Promise<void> {
    this.assertOpen();
    const iface = this.findInterface(interfaceNumber);
    if (!this.claimed.has(interfaceNumber)) throw domError('InvalidStateError', 'The interface is not claimed.');
    if (!iface.alternates.some((a) => a.alternateSetting === alternateSetting)) {
      throw domError('NotFoundError', 'The alternate setting provided is not supported by the device.');
    }
  }

  async controlTransferIn(setup: USBControlTransferParameters, length: number): Promise<USBInTransferResult> {
    this.assertOpen();
    // Apple's vendor GET_MODE (0x45): mode 1 = the default, nothing to switch.
    if (setup.requestType === 'vendor' && setup.request === 0x45) {
      return inResult('ok', new Uint8Array([0, 0, 0, 1]).subarray(0, Math.min(4, length)));
    }
    return inResult('stall');
  }

  async controlTransferOut(_setup: USBControlTransferParameters, data?: BufferSource): Promise<USBOutTransferResult> {
    this.assertOpen();
    return outResult('ok', data ? data.byteLength : 0);
  }

  async clearHalt(direction: USBDirection, endpointNumber: number): Promise<void> {
    this.assertOpen();
    this.findEndpoint(endpointNumber, direction);
  }

  transferIn(endpointNumber: number, length: number): Promise<USBInTransferResult> {
    try {
      this.assertOpen();
      this.findEndpoint(endpointNumber, 'in');
    } catch (error) {
      return Promise.reject(error);
    }
    if (endpointNumber !== this.inEndpoint) return new Promise(() => {}); // nothing ever arrives there
    return new Promise((resolve, reject) => {
      this.inWaiters.push({ length, resolve, reject });
      this.serveIn();
    });
  }

  async transferOut(endpointNumber: number, data: BufferSource): Promise<USBOutTransferResult> {
    this.assertOpen();
    // Like the browser, take a copy at call time: the caller may reuse its buffer.
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice()
      : new Uint8Array(data).slice();
    return this.transferOutOwned(endpointNumber, bytes);
  }

  /**
   * transferOut of bytes nobody else holds (the worker bridge's, which arrived by transfer): the device
   * keeps them as they are, without the copy a caller's own buffer needs. With `giveBack`, the memory
   * is lent: it is called once the device holds no view of it (never, if a service kept one).
   */
  async transferOutOwned(endpointNumber: number, bytes: Uint8Array, giveBack?: () => void): Promise<USBOutTransferResult> {
    this.assertOpen();
    const endpoint = this.findEndpoint(endpointNumber, 'out');
    if (endpointNumber !== this.outEndpoint) return outResult('stall', 0);
    const ended = bytes.byteLength === 0 || bytes.byteLength % endpoint.packetSize !== 0;
    if (!ended) {
      // Every packet was full-size: the device cannot know the transfer is over until a short packet or ZLP.
      this.outParts.push(bytes);
      if (giveBack) this.outPartsLent.push(giveBack);
      this.outTransfersAwaitingEnd++;
      return outResult('ok', bytes.byteLength);
    }
    if (this.outParts.length > 0) {
      this.outParts.push(bytes);
      const transfer = concat(this.outParts);
      // Joined into memory of its own: every part can go back now.
      for (const lent of this.outPartsLent) lent();
      giveBack?.();
      this.outParts = [];
      this.outPartsLent = [];
      this.outTransfersAwaitingEnd = 0;
      this.deviceFunction.receive(transfer);
      return outResult('ok', bytes.byteLength);
    }
    this.deviceFunction.receive(bytes, giveBack ? new TransferLease(bytes, giveBack) : undefined);
    return outResult('ok', bytes.byteLength);
  }

  async isochronousTransferIn(): Promise<USBIsochronousInTransferResult> {
    throw domError('InvalidAccessError', 'The specified endpoint is not an isochronous endpoint of a claimed interface.');
  }

  async isochronousTransferOut(): Promise<USBIsochronousOutTransferResult> {
    throw domError('InvalidAccessError', 'The specified endpoint is not an isochronous endpoint of a claimed interface.');
  }

  async reset(): Promise<void> {
    this.assertOpen();
    this.abortTransfers();
    this.resetFunction();
  }

  /** The host is done with a transfer it got whole: its buffer goes back to the device function. */
  recycleTransferBuffer(buffer: ArrayBuffer): void {
    if (this.handedOutWhole.delete(buffer)) this.deviceFunction.recycle?.(buffer);
  }

  /**
   * For a bridge that moves a transfer's buffer elsewhere (postMessage transfer): true, and the device
   * forgets it, when the buffer holds exactly one packet handed out whole — no other view needs it.
   */
  releaseWholeTransfer(buffer: ArrayBuffer): boolean {
    return this.handedOutWhole.delete(buffer);
  }

  /** A buffer that came back by transfer (so nobody else can see it): straight to the device function. */
  adoptTransferBuffer(buffer: ArrayBuffer): void {
    this.deviceFunction.recycle?.(buffer);
  }

  /** Pulls the cable: pending transfers fail with NetworkError, everything after with NotFoundError. */
  unplug(): void {
    if (this.unplugged) return;
    this.unplugged = true;
    this.isOpened = false;
    this.claimed.clear();
    const waiters = this.inWaiters.splice(0);
    for (const w of waiters) w.reject(domError('NetworkError', 'A transfer error has occurred.'));
    this.resetFunction();
    for (const listener of this.unplugListeners.splice(0)) listener();
  }

  onUnplug(listener: () => void): void {
    if (this.unplugged) queueMicrotask(listener);
    else this.unplugListeners.push(listener);
  }

  private resetFunction(): void {
    this.inQueue.length = 0;
    this.inHead = 0;
    this.outParts = [];
    this.outPartsLent = [];
    this.outTransfersAwaitingEnd = 0;
    this.deviceFunction.reset();
  }

  private queueIn(transfer: Uint8Array): void {
    if (this.unplugged) return;
    this.inQueue.push(transfer);
    this.serveIn();
  }

  private serveIn(): void {
    while (this.inWaiters.length > 0 && this.inHead < this.inQueue.length) {
      const waiter = this.inWaiters.shift()!;
      const packet = this.inQueue[this.inHead]!;
      if (waiter.length >= packet.byteLength) {
        this.takeIn();
        if (packet.byteOffset === 0) this.handedOutWhole.add(packet.buffer as ArrayBuffer);
        waiter.resolve(inResult('ok', packet));
      } else if (waiter.length % this.inPacketSize === 0) {
        // A whole number of max-size packets: the transfer ends full and the rest stays queued.
        this.inQueue[this.inHead] = packet.subarray(waiter.length);
        waiter.resolve(inResult('ok', packet.subarray(0, waiter.length)));
      } else {
        // The device sent a full packet where the host only had room for part of it.
        this.takeIn();
        waiter.resolve(inResult('babble', packet.subarray(0, waiter.length)));
      }
    }
    if (this.inHead > 256 && this.inHead * 2 > this.inQueue.length) {
      this.inQueue.splice(0, this.inHead);
      this.inHead = 0;
    }
  }

  private takeIn(): void {
    this.inQueue[this.inHead++] = EMPTY;
  }

  private abortTransfers(): void {
    const waiters = this.inWaiters.splice(0);
    for (const w of waiters) w.reject(domError('AbortError', 'The transfer was cancelled.'));
  }

  private assertPresent(): void {
    if (this.unplugged) throw domError('NotFoundError', 'The device was disconnected.');
  }

  private assertOpen(): void {
    this.assertPresent();
    if (!this.isOpened) throw domError('InvalidStateError', 'The device must be opened first.');
  }

  private findInterface(interfaceNumber: number): USBInterface {
    const iface = this.configuration?.interfaces.find((i) => i.interfaceNumber === interfaceNumber);
    if (!iface) throw domError('NotFoundError', 'The interface number provided is not supported by the device in its current configuration.');
    return iface;
  }

  private findEndpoint(endpointNumber: number, direction: USBDirection): USBEndpoint {
    for (const iface of this.configuration?.interfaces ?? []) {
      if (!this.claimed.has(iface.interfaceNumber)) continue;
      const endpoint = iface.alternate.endpoints.find((e) => e.endpointNumber === endpointNumber && e.direction === direction);
      if (endpoint) return endpoint;
    }
    throw domError('NotFoundError', 'The specified endpoint is not part of a claimed and selected alternate interface.');
  }
}

const EMPTY = new Uint8Array(0);


/** The virtual iPhone as a USB device: its descriptors, with a DeviceMux on the mux interface. */
export function createVirtualIPhoneUsbDevice(
  iphone: Pick<VirtualIPhone, 'ports' | 'udid' | 'productId'>,
  options: FakeUsbDeviceOptions & { mux?: DeviceMuxOptions } = {},
): FakeUsbDevice {
  const mux = new DeviceMux(iphone.ports, options.mux);
  return new FakeUsbDevice(virtualIPhoneUsbDescriptor(iphone), mux, options);
}

type UsbEventHandler = ((this: USB, ev: USBConnectionEvent) => unknown) | null;

function connectionEvent(type: 'connect' | 'disconnect', device: USBDevice): USBConnectionEvent {
  // The browser's USBConnectionEvent only takes real USBDevices, so build a plain Event with `device`.
  const event = new Event(type) as USBConnectionEvent;
  Object.defineProperty(event, 'device', { value: device, enumerable: true });
  return event;
}

/**
 * A navigator.usb stand-in: plug/unplug devices, `requestDevice` answers with the first plugged device
 * matching a filter (no chooser), `connect`/`disconnect` events as the browser fires them.
 */
export class FakeUsb extends EventTarget {
  onconnect: UsbEventHandler = null;
  ondisconnect: UsbEventHandler = null;
  private readonly devices: PluggableUsbDevice[] = [];

  constructor(devices: PluggableUsbDevice[] = []) {
    super();
    for (const device of devices) this.attach(device);
  }

  async getDevices(): Promise<USBDevice[]> {
    return [...this.devices];
  }

  async requestDevice(options?: USBDeviceRequestOptions): Promise<USBDevice> {
    const filters = options?.filters ?? [];
    const device = this.devices.find((d) => filters.length === 0 || filters.some((f) => matchesFilter(d, f)));
    if (!device) throw new DOMException('No device selected.', 'NotFoundError');
    return device;
  }

  /** Connects a device and fires `connect`. */
  plug(device: PluggableUsbDevice): void {
    this.attach(device);
    this.fire(connectionEvent('connect', device));
  }

  /** Pulls the device's cable; `disconnect` fires once its pending transfers failed. */
  unplug(device: PluggableUsbDevice): void {
    device.unplug();
  }

  private attach(device: PluggableUsbDevice): void {
    if (this.devices.includes(device)) return;
    this.devices.push(device);
    device.onUnplug(() => {
      const index = this.devices.indexOf(device);
      if (index >= 0) this.devices.splice(index, 1);
      this.fire(connectionEvent('disconnect', device));
    });
  }

  private fire(event: USBConnectionEvent): void {
    const handler = event.type === 'connect' ? this.onconnect : this.ondisconnect;
    handler?.call(this as unknown as USB, event);
    this.dispatchEvent(event);
  }
}

function matchesFilter(device: USBDevice, filter: USBDeviceFilter): boolean {
  if (filter.vendorId !== undefined && device.vendorId !== filter.vendorId) return false;
  if (filter.productId !== undefined && device.productId !== filter.productId) return false;
  if (filter.serialNumber !== undefined && device.serialNumber !== filter.serialNumber) return false;
  if (filter.classCode === undefined) return true;
  // The spec matches class filters against any interface of any configuration.
  return device.configurations.some((c) =>
    c.interfaces.some((i) =>
      i.alternates.some(
        (a) =>
          a.interfaceClass === filter.classCode &&
          (filter.subclassCode === undefined || a.interfaceSubclass === filter.subclassCode) &&
          (filter.protocolCode === undefined || a.interfaceProtocol === filter.protocolCode),
      ),
    ),
  );
}

/** One virtual iPhone plugged into a fresh FakeUsb: the usual demo/test setup. */
export function createFakeUsbWithIPhone(
  iphone: Pick<VirtualIPhone, 'ports' | 'udid' | 'productId'>,
  options: FakeUsbDeviceOptions & { mux?: DeviceMuxOptions } = {},
): { usb: FakeUsb; device: FakeUsbDevice } {
  const device = createVirtualIPhoneUsbDevice(iphone, options);
  return { usb: new FakeUsb([device]), device };
}
