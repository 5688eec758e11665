import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, DeviceBusyError, DeviceDisconnectedError, ProtocolError } from '../../src/core/errors.ts';
import { udidFromSerialNumber, isAppleMuxProductId } from '../../src/usb/apple-usb.ts';
import { detectHostOs } from '../../src/usb/device-busy.ts';
import { findMuxInterface } from '../../src/usb/mux-interface.ts';
import { getAppleDevices, requestAppleDevice } from '../../src/usb/request-device.ts';
import { UnsupportedDeviceError } from '../../src/usb/usb-errors.ts';
import { WebUsbMuxTransport } from '../../src/usb/webusb-mux-transport.ts';
import { DeviceMux } from '../../src/virtual-iphone/usb/device-mux.ts';
import { FakeUsb, FakeUsbDevice, createFakeUsbWithIPhone } from '../../src/virtual-iphone/usb/fake-usb-device.ts';
import { virtualIPhoneUsbDescriptor } from '../../src/virtual-iphone/usb/usb-descriptors.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { MuxDeviceConnector } from '../../src/usbmux/mux-device-connector.ts';
import { ECHO_PORT, registerTestServices } from '../usbmux/test-services.ts';
import { interceptDevice, sleep } from '../usbmux/harness.ts';

const VERSION_REQUEST = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);

function iphoneDevice(options: { claimFailure?: string } = {}): { iphone: VirtualIPhone; usb: FakeUsb; device: FakeUsbDevice } {
  const iphone = new VirtualIPhone();
  registerTestServices(iphone.ports);
  return { iphone, ...createFakeUsbWithIPhone(iphone, options) };
}

test('the fake iPhone looks like an iPhone to WebUSB code', async () => {
  const { usb, device } = iphoneDevice();
  assert.equal(device.vendorId, 0x05ac);
  assert.equal(device.productId, 0x12a8);
  assert.equal(device.serialNumber, '00008030001A2B3C4D5E802E');
  assert.equal(device.productName, 'iPhone');
  assert.equal(device.manufacturerName, 'Apple Inc.');
  assert.equal(device.configurations.length, 4);
  assert.equal(device.configurations[0]!.interfaces[0]!.alternate.interfaceClass, 6);
  assert.deepEqual(await getAppleDevices(usb), [device]);
  // A class filter matches any interface of any configuration, as in the spec.
  assert.equal(await usb.requestDevice({ filters: [{ classCode: 0xff, subclassCode: 0xfe, protocolCode: 2 }] }), device);
  await assert.rejects(usb.requestDevice({ filters: [{ vendorId: 0x1234 }] }), { name: 'NotFoundError' });
});

test('UDID and product-id rules', () => {
  assert.equal(udidFromSerialNumber('00008030001A2B3C4D5E802E'), '00008030-001A2B3C4D5E802E');
  assert.equal(udidFromSerialNumber('0123456789abcdef0123456789abcdef01234567'), '0123456789abcdef0123456789abcdef01234567');
  assert.ok(isAppleMuxProductId(0x1290) && isAppleMuxProductId(0x12af) && isAppleMuxProductId(0x12a8));
  assert.ok(!isAppleMuxProductId(0x128f) && !isAppleMuxProductId(0x12b0));
});

test('requestAppleDevice: cancel → CancelledError, wrong product id → UnsupportedDeviceError', async () => {
  await assert.rejects(requestAppleDevice(new FakeUsb()), CancelledError);
  const iphone = new VirtualIPhone({ productId: 0x1281 }); // recovery mode
  const { usb } = createFakeUsbWithIPhone(iphone);
  await assert.rejects(requestAppleDevice(usb), UnsupportedDeviceError);
});

test('configurations are walked from the highest: the mux interface of configuration 4 is claimed', async () => {
  const { usb, device } = iphoneDevice();
  assert.equal(device.configuration?.configurationValue, 1);
  const location = findMuxInterface(device);
  assert.deepEqual(location, { configurationValue: 4, interfaceNumber: 1, inEndpoint: 5, outEndpoint: 4, outPacketSize: 512, inPacketSize: 512 });
  const transport = await WebUsbMuxTransport.open(device, { usb });
  assert.equal(device.opened, true);
  assert.equal(device.configuration?.configurationValue, 4);
  assert.equal(device.configuration?.interfaces[1]!.claimed, true);
  assert.equal(device.configuration?.interfaces[0]!.claimed, false);
  assert.equal(transport.udid, '00008030-001A2B3C4D5E802E');
  assert.equal(transport.serialNumber, '00008030001A2B3C4D5E802E');
  assert.equal(transport.productId, 0x12a8);
  await transport.close();
  assert.equal(device.opened, false);
});

test('a device without a strict FF/FE/02 interface with two bulk endpoints is rejected clearly', async () => {
  const descriptor = virtualIPhoneUsbDescriptor({ udid: 'abc', productId: 0x12a8 });
  // Keep only PTP, plus a vendor interface that matches class and subclass but not protocol.
  descriptor.configurations = [descriptor.configurations[0]!];
  descriptor.configurations[0]!.interfaces.push({
    interfaceNumber: 1,
    alternates: [{ alternateSetting: 0, interfaceClass: 0xff, interfaceSubclass: 0xfe, interfaceProtocol: 0x01, interfaceName: null, endpoints: [] }],
  });
  const device = new FakeUsbDevice(descriptor, new DeviceMux(new VirtualIPhone().ports));
  await assert.rejects(WebUsbMuxTransport.open(device, { usb: new FakeUsb() }), (error: unknown) => {
    assert.ok(error instanceof UnsupportedDeviceError);
    assert.match(error.message, /no usbmux interface/);
    assert.ok(error.action);
    return true;
  });
  assert.equal(device.opened, false);
});

test('a claim failure becomes DeviceBusyError with advice for the OS', async () => {
  for (const [os, expected] of [
    ['linux', /systemctl stop usbmuxd[\s\S]*gvfs[\s\S]*uaccess/],
    ['windows', /Zadig|WinUSB/],
    ['macos', /view existing backups/],
    ['chromeos', /Close other apps/],
  ] as const) {
    const { usb, device } = iphoneDevice({ claimFailure: 'NetworkError' });
    await assert.rejects(WebUsbMuxTransport.open(device, { usb, os }), (error: unknown) => {
      assert.ok(error instanceof DeviceBusyError, `${os}: ${String(error)}`);
      assert.equal(error.code, 'device-busy');
      assert.match(error.action ?? '', expected);
      return true;
    });
  }
  const { usb, device } = iphoneDevice({ claimFailure: 'SecurityError' });
  await assert.rejects(WebUsbMuxTransport.open(device, { usb, os: 'linux' }), DeviceBusyError);
});

test('host OS detection from userAgentData and userAgent', () => {
  assert.equal(detectHostOs({ userAgentData: { platform: 'Linux' } }), 'linux');
  assert.equal(detectHostOs({ userAgentData: { platform: 'Windows' } }), 'windows');
  assert.equal(detectHostOs({ userAgentData: { platform: 'macOS' } }), 'macos');
  assert.equal(detectHostOs({ userAgentData: { platform: 'Chrome OS' } }), 'chromeos');
  assert.equal(detectHostOs({ userAgentData: { platform: 'Android' } }), 'android');
  assert.equal(detectHostOs({ userAgent: 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36' }), 'chromeos');
  assert.equal(detectHostOs({ userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36' }), 'android');
  assert.equal(detectHostOs({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36' }), 'linux');
  assert.equal(detectHostOs({ userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)' }), 'macos');
  assert.equal(detectHostOs({ userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)' }), 'windows');
});

test('ZLP rule: an OUT transfer that is a multiple of 512 stalls without a ZLP; ours sends one', async () => {
  // A 476-byte echo payload makes a 512-byte mux packet (16 + 20 + 476).
  const payload = new Uint8Array(476).map((_, i) => i & 0xff);
  for (const forgetZlp of [true, false]) {
    const iphone = new VirtualIPhone();
    registerTestServices(iphone.ports);
    const { usb, device } = createFakeUsbWithIPhone(iphone);
    const outLog: Uint8Array[] = [];
    const view = interceptDevice(device, { outLog, dropZeroLengthOut: forgetZlp });
    const connector = await MuxDeviceConnector.fromUsbDevice(view, { usb, log: () => {} });
    const echo = await connector.connect(ECHO_PORT);
    await echo.write(payload);
    const answer = await Promise.race([echo.read(), sleep(150).then(() => 'stalled' as const)]);
    if (forgetZlp) {
      assert.equal(answer, 'stalled');
      assert.equal(device.outTransfersAwaitingEnd, 1);
    } else {
      assert.deepEqual(answer, payload);
      assert.equal(device.outTransfersAwaitingEnd, 0);
      const index = outLog.findIndex((t) => t.byteLength === 512);
      assert.ok(index > 0);
      assert.equal(outLog[index + 1]!.byteLength, 0, 'a zero-length transfer follows the 512-byte one');
    }
    await connector.close();
  }
});

test('babble: an IN transfer shorter than the device packet', async () => {
  const { device } = iphoneDevice();
  await device.open();
  await device.selectConfiguration(4);
  await device.claimInterface(1);
  await device.transferOut(4, VERSION_REQUEST);
  const short = await device.transferIn(5, 10);
  assert.equal(short.status, 'babble');
  await device.transferOut(4, VERSION_REQUEST);
  const whole = await device.transferIn(5, 512);
  assert.equal(whole.status, 'ok');
  assert.equal(whole.data?.byteLength, 20);
  assert.equal(whole.data?.getUint32(8), 2);
  // Transfers outside the claimed interface are refused as WebUSB does.
  await assert.rejects(device.transferIn(1, 512), { name: 'NotFoundError' });
  await device.close();
});

test('the transport reports a babbled IN transfer as a ProtocolError', async () => {
  const { usb, device } = iphoneDevice();
  const view = new Proxy(device, {
    get(target, key) {
      if (key === 'transferIn') return async (): Promise<USBInTransferResult> => ({ status: 'babble', data: new DataView(new ArrayBuffer(4)) });
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as USBDevice;
  const transport = await WebUsbMuxTransport.open(view, { usb });
  await assert.rejects(transport.read(), (error: unknown) => error instanceof ProtocolError && /babble/.test(error.message));
  await transport.close();
});

test('unplug: pending transfers fail with NetworkError, later ones with NotFoundError; transport → DeviceDisconnectedError', async () => {
  const { usb, device } = iphoneDevice();
  const events: string[] = [];
  usb.addEventListener('disconnect', (e) => events.push(`${e.type}:${(e as USBConnectionEvent).device === device}`));
  const transport = await WebUsbMuxTransport.open(device, { usb });
  const pendingRead = transport.read();
  const rawPending = device.transferIn(5, 512);
  usb.unplug(device);
  await assert.rejects(rawPending, { name: 'NetworkError' });
  await assert.rejects(pendingRead, DeviceDisconnectedError);
  await assert.rejects(transport.write(VERSION_REQUEST), DeviceDisconnectedError);
  await assert.rejects(transport.read(), DeviceDisconnectedError);
  await assert.rejects(device.transferIn(5, 512), { name: 'NotFoundError' });
  assert.deepEqual(events, ['disconnect:true']);
  assert.deepEqual(await usb.getDevices(), []);
  await transport.close();
});

test('the transport keeps at least 3 IN transfers in flight, in multiples of the packet size', async () => {
  const { usb, device } = iphoneDevice();
  const sizes: number[] = [];
  const view = new Proxy(device, {
    get(target, key) {
      if (key === 'transferIn') {
        return (ep: number, length: number) => {
          sizes.push(length);
          return target.transferIn(ep, length);
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as USBDevice;
  const transport = await WebUsbMuxTransport.open(view, { usb, transferSize: 20000 });
  assert.ok(sizes.length >= 3);
  assert.ok(sizes.every((s) => s % 512 === 0 && s >= 16384 && s <= 65536));
  await transport.close();
});
