/**
 * The narrow seam between the mux protocol and USB: an ordered pipe of bulk bytes to one Apple device.
 * `write` sends one mux packet as one OUT transfer (plus the zero-length packet USB needs);
 * `read` yields the IN byte stream in arbitrary chunks, in order. Like ya-webadb's AdbTransport,
 * it lets the mux run over real WebUSB, the fake device, or a worker proxy unchanged.
 */
export interface UsbMuxTransport {
  /**
   * Resolves once the transfer completed; rejects with DeviceDisconnectedError after unplug. Keeps no
   * view of `packet` past that (WebUSB copies at call time): the session builds later packets in it.
   */
  write(packet: Uint8Array): Promise<void>;
  /** Next chunk of the IN stream; null once the transport was closed by us. */
  read(): Promise<Uint8Array | null>;
  /**
   * Optional: the host holds no view into this chunk (one `read` result, whole) any more, so its memory
   * may be reused. Never required; chunks nobody releases are left to the garbage collector.
   */
  release?(chunk: Uint8Array): void;
  /** Releases the interface and closes the device. Idempotent. */
  close(): Promise<void>;
  /** The raw USB serial-number string (the UDID without its dash on new devices). */
  readonly serialNumber: string;
  /** The UDID as usbmux reports it (dash after the 8th character of a 24-character serial). */
  readonly udid: string;
  readonly productId: number;
}
