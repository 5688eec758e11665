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
  /**
   * Optional: copies the next bytes in order into `target` (as many as are queued, up to its length)
   * and returns how many, 0 only for an empty target, or null once the peer has closed. A stream offers
   * it when copying lets it reuse its receive memory; BufferedReader then reads through it and hands
   * out copies, never views of that memory.
   */
  readInto?(target: Uint8Array): Promise<number | null>;
  /** Resolves when the bytes are accepted; waits while the peer's window is full. Rejects once closed. */
  write(data: Uint8Array): Promise<void>;
  /**
   * Optional: true when `write` holds no reference to the caller's bytes once its promise settles (it
   * copied them into packets), so the caller may fill the same memory for its next write. Unset for a
   * stream that may still be sending from them (a Node socket queues the caller's buffer as it is, unless
   * its SocketByteStream waits for the socket to let go: releaseWrites).
   */
  readonly releasesWrites?: boolean;
  /** Closes both directions. Idempotent; pending reads resolve null. */
  close(): Promise<void>;
}
