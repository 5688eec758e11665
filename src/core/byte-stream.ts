/**
 * The one seam every protocol layer speaks: an ordered, duplex byte pipe with back-pressure.
 * A usbmux connection, a usbmuxd socket, a TLS session and an in-memory pair all implement it,
 * so lockdown, services and the virtual iPhone never know what carries their bytes.
 */
export interface ByteStream {
  /**
   * The next bytes in order, or null once the peer has closed. The caller owns the returned buffer.
   * Not reading is what applies back-pressure to the peer.
   */
  read(): Promise<Uint8Array | null>;
  /** Resolves when the bytes are accepted; waits while the peer's window is full. Rejects once closed. */
  write(data: Uint8Array): Promise<void>;
  /** Closes both directions. Idempotent; pending reads resolve null. */
  close(): Promise<void>;
}
