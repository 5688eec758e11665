import { CancelledError } from '../core/errors.ts';
import { APPLE_VENDOR_ID, isAppleMuxProductId } from './apple-usb.ts';
import { domErrorName, UnsupportedDeviceError } from './usb-errors.ts';

/**
 * Shows the browser's device chooser for Apple devices and checks the pick is an iOS device in normal
 * mode (product id 0x1290–0x12AF). Closing the chooser becomes CancelledError.
 */
export async function requestAppleDevice(usb: Pick<USB, 'requestDevice'>): Promise<USBDevice> {
  let device: USBDevice;
  try {
    device = await usb.requestDevice({ filters: [{ vendorId: APPLE_VENDOR_ID }] });
  } catch (error) {
    if (domErrorName(error) === 'NotFoundError') throw new CancelledError('No device was chosen.');
    throw error;
  }
  if (device.vendorId !== APPLE_VENDOR_ID || !isAppleMuxProductId(device.productId)) {
    throw new UnsupportedDeviceError(
      `${device.productName ?? 'The chosen device'} (product id 0x${device.productId.toString(16)}) is not an iPhone or iPad in normal mode.`,
    );
  }
  return device;
}

/** Devices this site was already allowed to use that look like iOS devices (no chooser needed). */
export async function getAppleDevices<D extends { vendorId: number; productId: number } = USBDevice>(usb: {
  getDevices(): Promise<D[]> | D[];
}): Promise<D[]> {
  const devices = await usb.getDevices();
  return devices.filter((d) => d.vendorId === APPLE_VENDOR_ID && isAppleMuxProductId(d.productId));
}
