import { LifeboatError } from '../core/errors.ts';

/** The chosen USB device is not an iPhone/iPad in a mode we can talk to (no usbmux interface, wrong ids). */
export class UnsupportedDeviceError extends LifeboatError {
  constructor(message: string, action = 'Connect an iPhone or iPad with its cable, unlock it, and choose it in the list.') {
    super('unsupported', message, { action });
  }
}

/** The DOMException name of a WebUSB failure, if it is one. */
export function domErrorName(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'name' in error) {
    const name = (error as { name: unknown }).name;
    return typeof name === 'string' ? name : undefined;
  }
  return undefined;
}

/** WebUSB reports an unplugged device as NetworkError (in-flight) or NotFoundError (afterwards). */
export function isDisconnectError(error: unknown): boolean {
  const name = domErrorName(error);
  return name === 'NetworkError' || name === 'NotFoundError';
}
