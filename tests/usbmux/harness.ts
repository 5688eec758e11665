// Host stack ↔ fake USB device ↔ device mux ↔ test services, wired in-process.
import { requestAppleDevice } from '../../src/usb/request-device.ts';
import type { WebUsbMuxTransportOptions } from '../../src/usb/webusb-mux-transport.ts';
import { MuxDeviceConnector } from '../../src/usbmux/mux-device-connector.ts';
import type { MuxSessionOptions } from '../../src/usbmux/mux-session.ts';
import type { DeviceMux, DeviceMuxOptions } from '../../src/virtual-iphone/usb/device-mux.ts';
import { createFakeUsbWithIPhone, type FakeUsb, type FakeUsbDevice } from '../../src/virtual-iphone/usb/fake-usb-device.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { registerTestServices, type TestServices } from './test-services.ts';

export interface Harness {
  iphone: VirtualIPhone;
  usb: FakeUsb;
  device: FakeUsbDevice;
  mux: DeviceMux;
  services: TestServices;
  connector: MuxDeviceConnector;
  logs: string[];
  close(): Promise<void>;
}

export async function startHarness(
  options: {
    mux?: DeviceMuxOptions;
    host?: MuxSessionOptions & WebUsbMuxTransportOptions;
    sinkDelayMs?: number;
    wrapDevice?: (device: FakeUsbDevice) => USBDevice;
  } = {},
): Promise<Harness> {
  const iphone = new VirtualIPhone();
  const services = registerTestServices(iphone.ports, { sinkDelayMs: options.sinkDelayMs ?? 0 });
  const { usb, device } = createFakeUsbWithIPhone(iphone, { mux: options.mux ?? {} });
  const logs: string[] = [];
  const chosen = await requestAppleDevice(usb);
  const usbDevice = options.wrapDevice ? options.wrapDevice(chosen as FakeUsbDevice) : chosen;
  const connector = await MuxDeviceConnector.fromUsbDevice(usbDevice, {
    usb,
    log: (m) => logs.push(m),
    ...options.host,
  });
  return {
    iphone,
    usb,
    device,
    mux: device.deviceFunction as DeviceMux,
    services,
    connector,
    logs,
    close: () => connector.close(),
  };
}

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export async function readAll(stream: { read(): Promise<Uint8Array | null> }, onChunk?: (c: Uint8Array) => void | Promise<void>): Promise<number> {
  let total = 0;
  for (;;) {
    const chunk = await stream.read();
    if (chunk === null) return total;
    total += chunk.byteLength;
    if (onChunk) await onChunk(chunk);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A view of `device` that records OUT transfers and can drop zero-length ones (a host that forgets ZLPs). */
export function interceptDevice(
  device: FakeUsbDevice,
  options: { outLog?: Uint8Array[]; dropZeroLengthOut?: boolean },
): USBDevice {
  return new Proxy(device, {
    get(target, key) {
      if (key === 'transferOut') {
        return async (endpoint: number, data: BufferSource): Promise<USBOutTransferResult> => {
          const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
          options.outLog?.push(bytes.slice());
          if (options.dropZeroLengthOut && bytes.byteLength === 0) return { status: 'ok', bytesWritten: 0 };
          return target.transferOut(endpoint, data);
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as USBDevice;
}
