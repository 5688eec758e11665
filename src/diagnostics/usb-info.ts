import type { JsonPlist } from './trace-format.ts';
import type { TraceRecorder } from './trace-recorder.ts';

/** Where the mux interface was found (src/usb/mux-interface.ts MuxInterfaceLocation). */
export interface ChosenInterface {
  configurationValue: number;
  interfaceNumber: number;
  inEndpoint: number;
  outEndpoint: number;
  inPacketSize: number;
  outPacketSize: number;
}

/**
 * Records the USB descriptors of the device (every configuration, interface and endpoint) and the
 * configuration/interface the transport chose. The serial number is the UDID: only its hash is kept.
 */
export function recordUsbDevice(recorder: TraceRecorder, device: USBDevice, chosen: ChosenInterface | undefined): void {
  const configurations: JsonPlist[] = device.configurations.map((c) => ({
    value: c.configurationValue,
    name: c.configurationName ?? null,
    interfaces: c.interfaces.map((i) => ({
      number: i.interfaceNumber,
      alternates: i.alternates.map((a) => ({
        setting: a.alternateSetting,
        class: a.interfaceClass,
        subclass: a.interfaceSubclass,
        protocol: a.interfaceProtocol,
        endpoints: a.endpoints.map((e) => ({ number: e.endpointNumber, direction: e.direction, type: e.type, packetSize: e.packetSize })),
      })),
    })),
  }));
  recorder.add({
    kind: 'usb',
    info: {
      vendorId: device.vendorId,
      productId: device.productId,
      usbVersion: `${device.usbVersionMajor}.${device.usbVersionMinor}.${device.usbVersionSubminor}`,
      deviceVersion: `${device.deviceVersionMajor}.${device.deviceVersionMinor}.${device.deviceVersionSubminor}`,
      deviceClass: device.deviceClass,
      manufacturer: device.manufacturerName ?? null,
      product: device.productName ?? null,
      serialNumber: device.serialNumber ? recorder.redactor.identifier(device.serialNumber) : null,
      activeConfiguration: device.configuration?.configurationValue ?? null,
      configurations,
      chosen: chosen ? { ...chosen } : null,
    },
  });
}
