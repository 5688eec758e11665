/** Facts about Apple devices on USB that the host needs before speaking usbmux. */
export const APPLE_VENDOR_ID = 0x05ac;
/** Normal-mode iOS devices (iPhone, iPad, iPod) enumerate in this product-id range. */
export const APPLE_MUX_PID_MIN = 0x1290;
export const APPLE_MUX_PID_MAX = 0x12af;

export const MUX_INTERFACE_CLASS = 0xff;
export const MUX_INTERFACE_SUBCLASS = 0xfe;
export const MUX_INTERFACE_PROTOCOL = 0x02;

export function isAppleMuxProductId(productId: number): boolean {
  return productId >= APPLE_MUX_PID_MIN && productId <= APPLE_MUX_PID_MAX;
}

/** usbmuxd's rule: a 24-character serial (new-style UDID) gets a dash after the 8th character. */
export function udidFromSerialNumber(serialNumber: string): string {
  return serialNumber.length === 24 ? `${serialNumber.slice(0, 8)}-${serialNumber.slice(8)}` : serialNumber;
}
