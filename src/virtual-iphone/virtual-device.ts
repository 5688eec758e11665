import type { ByteStream } from '../core/byte-stream.ts';
import { createStreamPair, type LendingByteStream } from '../core/stream-pair.ts';

/** Serves one accepted connection on a device port; owns the device end of the stream. */
export type PortHandler = (stream: ByteStream) => void;

/**
 * The simulated iPhone's port table: what the device-side mux (fake USB) and the usbmuxd socket front
 * both connect into. Services (lockdownd, mobilebackup2, afc…) register a handler per port; lockdownd's
 * StartService registers ephemeral ports the same way.
 */
export class VirtualDevicePorts {
  private readonly handlers = new Map<number, PortHandler>();
  /** Device ends of open connections, so a reboot can drop them all. */
  private readonly open = new Set<ByteStream>();
  private nextEphemeral = 49152;

  listen(port: number, handler: PortHandler): void {
    this.handlers.set(port, handler);
  }

  unlisten(port: number): void {
    this.handlers.delete(port);
  }

  /** A free port for a started service, as lockdownd hands out. */
  allocateEphemeralPort(): number {
    for (;;) {
      const port = this.nextEphemeral;
      this.nextEphemeral = this.nextEphemeral >= 65000 ? 49152 : this.nextEphemeral + 1;
      if (!this.handlers.has(port)) return port;
    }
  }

  /**
   * Host side of a new connection, or null when nothing listens (the mux answers RST). With
   * `copyingReads` the service reads by copying, so memory the host side lends comes back.
   */
  connect(port: number, highWaterMark?: number, options: { copyingReads?: boolean } = {}): LendingByteStream | null {
    const handler = this.handlers.get(port);
    if (!handler) return null;
    const [hostEnd, deviceEnd] = createStreamPair(highWaterMark, options);
    handler(this.track(deviceEnd));
    return hostEnd;
  }

  /** Closes every open connection (the device rebooted); listeners stay, so it comes back at once. */
  dropConnections(): void {
    const open = [...this.open];
    this.open.clear();
    for (const stream of open) void stream.close();
  }

  private track(stream: ByteStream): ByteStream {
    const open = this.open;
    const readInto = stream.readInto?.bind(stream);
    const tracked: ByteStream = {
      read: async () => {
        const chunk = await stream.read();
        if (chunk === null) open.delete(tracked);
        return chunk;
      },
      ...(readInto && {
        readInto: async (target: Uint8Array) => {
          const n = await readInto(target);
          if (n === null) open.delete(tracked);
          return n;
        },
      }),
      write: (bytes) => stream.write(bytes),
      close: () => {
        open.delete(tracked);
        return stream.close();
      },
    };
    open.add(tracked);
    return tracked;
  }
}
