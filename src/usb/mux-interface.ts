import { MUX_INTERFACE_CLASS, MUX_INTERFACE_PROTOCOL, MUX_INTERFACE_SUBCLASS } from './apple-usb.ts';
import { UnsupportedDeviceError } from './usb-errors.ts';

/** Where the usbmux pipe lives on a device. */
export interface MuxInterfaceLocation {
  configurationValue: number;
  interfaceNumber: number;
  /** Endpoint numbers (without the direction bit), as WebUSB's transferIn/Out take them. */
  inEndpoint: number;
  outEndpoint: number;
  /** wMaxPacketSize of the OUT endpoint: decides when a zero-length packet must follow. */
  outPacketSize: number;
  inPacketSize: number;
}

/**
 * usbmuxd's walk: configurations from the highest value down, first interface whose alternate 0 is
 * FF/FE/02 (all three, as usbmuxd2 and webmuxd test) with exactly one bulk IN and one bulk OUT.
 */
export function findMuxInterface(device: Pick<USBDevice, 'configurations' | 'productName'>): MuxInterfaceLocation {
  const configurations = [...device.configurations].sort((a, b) => b.configurationValue - a.configurationValue);
  for (const configuration of configurations) {
    for (const iface of configuration.interfaces) {
      const alt = iface.alternates.find((a) => a.alternateSetting === 0) ?? iface.alternates[0];
      if (!alt) continue;
      if (
        alt.interfaceClass !== MUX_INTERFACE_CLASS ||
        alt.interfaceSubclass !== MUX_INTERFACE_SUBCLASS ||
        alt.interfaceProtocol !== MUX_INTERFACE_PROTOCOL ||
        alt.endpoints.length !== 2
      ) {
        continue;
      }
      const inEp = alt.endpoints.find((e) => e.direction === 'in' && e.type === 'bulk');
      const outEp = alt.endpoints.find((e) => e.direction === 'out' && e.type === 'bulk');
      if (!inEp || !outEp) continue;
      return {
        configurationValue: configuration.configurationValue,
        interfaceNumber: iface.interfaceNumber,
        inEndpoint: inEp.endpointNumber,
        outEndpoint: outEp.endpointNumber,
        outPacketSize: outEp.packetSize || 64,
        inPacketSize: inEp.packetSize || 64,
      };
    }
  }
  throw new UnsupportedDeviceError(
    `${device.productName ?? 'This device'} offers no usbmux interface, so it cannot be backed up over USB.`,
    'Make sure it is an iPhone or iPad that is switched on (not in recovery mode), unlock it, and reconnect the cable.',
  );
}
