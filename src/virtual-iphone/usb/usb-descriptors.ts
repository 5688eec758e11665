/**
 * Plain, structured-cloneable USB descriptors (they cross to the page from the device worker), and the
 * WebUSB-shaped configuration objects built from them.
 */
export interface EndpointDescriptor {
  endpointNumber: number;
  direction: USBDirection;
  type: USBEndpointType;
  packetSize: number;
}

export interface AlternateDescriptor {
  alternateSetting: number;
  interfaceClass: number;
  interfaceSubclass: number;
  interfaceProtocol: number;
  interfaceName: string | null;
  endpoints: EndpointDescriptor[];
}

export interface InterfaceDescriptor {
  interfaceNumber: number;
  alternates: AlternateDescriptor[];
}

export interface ConfigurationDescriptor {
  configurationValue: number;
  configurationName: string | null;
  interfaces: InterfaceDescriptor[];
}

export interface UsbDeviceDescriptor {
  usbVersionMajor: number;
  usbVersionMinor: number;
  usbVersionSubminor: number;
  deviceClass: number;
  deviceSubclass: number;
  deviceProtocol: number;
  vendorId: number;
  productId: number;
  deviceVersionMajor: number;
  deviceVersionMinor: number;
  deviceVersionSubminor: number;
  manufacturerName: string | null;
  productName: string | null;
  serialNumber: string | null;
  configurations: ConfigurationDescriptor[];
  /** Active configuration when the device appears (the OS's choice). */
  initialConfiguration: number;
}

/**
 * The device-descriptor half of a USBDevice, copied from a UsbDeviceDescriptor: shared by the in-process
 * fake device and the page-side proxy of a device served from a worker.
 */
export abstract class DescribedUsbDevice {
  readonly usbVersionMajor: number;
  readonly usbVersionMinor: number;
  readonly usbVersionSubminor: number;
  readonly deviceClass: number;
  readonly deviceSubclass: number;
  readonly deviceProtocol: number;
  readonly vendorId: number;
  readonly productId: number;
  readonly deviceVersionMajor: number;
  readonly deviceVersionMinor: number;
  readonly deviceVersionSubminor: number;
  readonly manufacturerName: string | null;
  readonly productName: string | null;
  readonly serialNumber: string | null;

  constructor(descriptor: UsbDeviceDescriptor) {
    this.usbVersionMajor = descriptor.usbVersionMajor;
    this.usbVersionMinor = descriptor.usbVersionMinor;
    this.usbVersionSubminor = descriptor.usbVersionSubminor;
    this.deviceClass = descriptor.deviceClass;
    this.deviceSubclass = descriptor.deviceSubclass;
    this.deviceProtocol = descriptor.deviceProtocol;
    this.vendorId = descriptor.vendorId;
    this.productId = descriptor.productId;
    this.deviceVersionMajor = descriptor.deviceVersionMajor;
    this.deviceVersionMinor = descriptor.deviceVersionMinor;
    this.deviceVersionSubminor = descriptor.deviceVersionSubminor;
    this.manufacturerName = descriptor.manufacturerName;
    this.productName = descriptor.productName;
    this.serialNumber = descriptor.serialNumber;
  }
}

/** The usbmux pipe's endpoints on an iPhone: bulk IN 0x85, bulk OUT 0x04, high-speed 512-byte packets. */
export const IPHONE_MUX_IN_ENDPOINT = 5;
export const IPHONE_MUX_OUT_ENDPOINT = 4;
export const IPHONE_PACKET_SIZE = 512;

const bulk = (endpointNumber: number, direction: USBDirection, packetSize = IPHONE_PACKET_SIZE): EndpointDescriptor => ({
  endpointNumber,
  direction,
  type: 'bulk',
  packetSize,
});

const single = (
  interfaceNumber: number,
  cls: number,
  sub: number,
  proto: number,
  name: string | null,
  endpoints: EndpointDescriptor[],
): InterfaceDescriptor => ({
  interfaceNumber,
  alternates: [{ alternateSetting: 0, interfaceClass: cls, interfaceSubclass: sub, interfaceProtocol: proto, interfaceName: name, endpoints }],
});

const ptp = (): InterfaceDescriptor =>
  single(0, 0x06, 0x01, 0x01, 'PTP', [
    bulk(1, 'in'),
    bulk(2, 'out'),
    { endpointNumber: 3, direction: 'in', type: 'interrupt', packetSize: 64 },
  ]);

const mux = (interfaceNumber: number): InterfaceDescriptor =>
  single(interfaceNumber, 0xff, 0xfe, 0x02, 'Apple USB Multiplexor', [
    bulk(IPHONE_MUX_IN_ENDPOINT, 'in'),
    bulk(IPHONE_MUX_OUT_ENDPOINT, 'out'),
  ]);

/**
 * What an iPhone in its default mode enumerates as (lsusb of a real device): 1 PTP, 2 iPod USB Interface
 * (audio + HID), 3 PTP + Apple Mobile Device, 4 PTP + Apple Mobile Device + Apple USB Ethernet.
 */
export function virtualIPhoneUsbDescriptor(identity: { udid: string; productId: number; productName?: string }): UsbDeviceDescriptor {
  return {
    usbVersionMajor: 2,
    usbVersionMinor: 0,
    usbVersionSubminor: 0,
    deviceClass: 0,
    deviceSubclass: 0,
    deviceProtocol: 0,
    vendorId: 0x05ac,
    productId: identity.productId,
    deviceVersionMajor: 18,
    deviceVersionMinor: 0,
    deviceVersionSubminor: 0,
    manufacturerName: 'Apple Inc.',
    productName: identity.productName ?? 'iPhone',
    serialNumber: identity.udid.replace('-', ''),
    initialConfiguration: 1,
    configurations: [
      { configurationValue: 1, configurationName: 'PTP', interfaces: [ptp()] },
      {
        configurationValue: 2,
        configurationName: 'iPod USB Interface',
        interfaces: [
          single(0, 0x01, 0x01, 0x00, null, []),
          {
            interfaceNumber: 1,
            alternates: [
              { alternateSetting: 0, interfaceClass: 0x01, interfaceSubclass: 0x02, interfaceProtocol: 0, interfaceName: null, endpoints: [] },
              {
                alternateSetting: 1,
                interfaceClass: 0x01,
                interfaceSubclass: 0x02,
                interfaceProtocol: 0,
                interfaceName: null,
                endpoints: [{ endpointNumber: 1, direction: 'in', type: 'isochronous', packetSize: 192 }],
              },
            ],
          },
          single(2, 0x03, 0x00, 0x00, null, [{ endpointNumber: 3, direction: 'in', type: 'interrupt', packetSize: 64 }]),
        ],
      },
      { configurationValue: 3, configurationName: 'PTP + Apple Mobile Device', interfaces: [ptp(), mux(1)] },
      {
        configurationValue: 4,
        configurationName: 'PTP + Apple Mobile Device + Apple USB Ethernet',
        interfaces: [
          ptp(),
          mux(1),
          {
            interfaceNumber: 2,
            alternates: [
              { alternateSetting: 0, interfaceClass: 0xff, interfaceSubclass: 0xfd, interfaceProtocol: 0x01, interfaceName: 'Apple USB Ethernet', endpoints: [] },
              {
                alternateSetting: 1,
                interfaceClass: 0xff,
                interfaceSubclass: 0xfd,
                interfaceProtocol: 0x01,
                interfaceName: 'Apple USB Ethernet',
                endpoints: [bulk(6, 'in'), bulk(7, 'out')],
              },
            ],
          },
        ],
      },
    ],
  };
}

/** WebUSB-shaped configuration objects; `claimed` reads live state through `isClaimed`. */
export function buildUsbConfigurations(
  descriptor: UsbDeviceDescriptor,
  isClaimed: (configurationValue: number, interfaceNumber: number) => boolean,
): USBConfiguration[] {
  return descriptor.configurations.map((c) => {
    const configuration = {
      configurationValue: c.configurationValue,
      configurationName: c.configurationName,
      interfaces: [] as USBInterface[],
    };
    configuration.interfaces = c.interfaces.map((i) => {
      const alternates: USBAlternateInterface[] = i.alternates.map((a) => ({
        alternateSetting: a.alternateSetting,
        interfaceClass: a.interfaceClass,
        interfaceSubclass: a.interfaceSubclass,
        interfaceProtocol: a.interfaceProtocol,
        interfaceName: a.interfaceName,
        endpoints: a.endpoints.map((e) => ({ ...e })),
      }));
      return {
        interfaceNumber: i.interfaceNumber,
        alternates,
        alternate: alternates[0]!,
        get claimed() {
          return isClaimed(c.configurationValue, i.interfaceNumber);
        },
      };
    });
    return configuration;
  });
}
