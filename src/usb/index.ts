export type { UsbMuxTransport } from './usb-mux-transport.ts';
export { WebUsbMuxTransport, type WebUsbMuxTransportOptions, type UsbEventSource } from './webusb-mux-transport.ts';
export { requestAppleDevice, getAppleDevices } from './request-device.ts';
export { findMuxInterface, type MuxInterfaceLocation } from './mux-interface.ts';
export { deviceBusyError, detectHostOs, type HostOs } from './device-busy.ts';
export { UnsupportedDeviceError, isDisconnectError } from './usb-errors.ts';
export * from './apple-usb.ts';
