/**
 * A non-standard extension our simulated USB devices offer (the in-process fake and the worker proxy;
 * never navigator.usb's real devices): the host hands back the buffer of an IN transfer result once it
 * holds no view into it, and the device builds later transfers in it instead of fresh memory.
 * With real WebUSB every result is fresh memory the page owns and the garbage collector reclaims.
 */
export interface TransferRecyclingDevice {
  /** `buffer` is the ArrayBuffer behind a transferIn result's `data`; the caller must not touch it again. */
  recycleTransferBuffer(buffer: ArrayBuffer): void;
}

export function canRecycleTransfers(device: USBDevice): device is USBDevice & TransferRecyclingDevice {
  return typeof (device as Partial<TransferRecyclingDevice>).recycleTransferBuffer === 'function';
}
