import { isAppleMuxProductId, APPLE_VENDOR_ID } from '../../usb/apple-usb.ts';
import { getAppleDevices } from '../../usb/request-device.ts';

/** A USB device as far as reconnecting needs it: navigator.usb's USBDevice or demo mode's AllowedDevice. */
export interface UsbIdentity {
  vendorId: number;
  productId: number;
  serialNumber?: string | null | undefined;
}

function isAppleMux(device: UsbIdentity): boolean {
  return device.vendorId === APPLE_VENDOR_ID && isAppleMuxProductId(device.productId);
}

/** The first iPhone/iPad this origin may already use and that is plugged in now, if any. */
export async function firstAllowedAppleDevice<D extends UsbIdentity>(usb: { getDevices(): Promise<D[]> | D[] }): Promise<D | undefined> {
  return (await getAppleDevices(usb))[0];
}

/**
 * Calls `onConnect` when an allowed iPhone/iPad is plugged in (`connect` events only reach a page for
 * devices it was granted). Returns the function that stops listening.
 */
export function watchAppleConnections<D extends UsbIdentity>(usb: EventTarget, onConnect: (device: D) => void): () => void {
  const listener = (event: Event): void => {
    const device = (event as Event & { device?: D }).device;
    if (device && isAppleMux(device)) onConnect(device);
  };
  usb.addEventListener('connect', listener);
  return () => usb.removeEventListener('connect', listener);
}
