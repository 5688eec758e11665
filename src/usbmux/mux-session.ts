import { DeviceDisconnectedError, LifeboatError, ProtocolError, TimeoutError } from '../core/errors.ts';
import type { UsbMuxTransport } from '../usb/usb-mux-transport.ts';
import { MuxConnection } from './mux-connection.ts';
import { MuxPacketAssembler } from './mux-packet-assembler.ts';
import { TransferLease } from './transfer-lease.ts';
import {
  MAX_DEVICE_PACKET,
  MAX_HOST_PACKET,
  MUX_HEADER_V1,
  MUX_HEADER_V2,
  MUX_MAGIC,
  MUX_PROTO_CONTROL,
  MUX_PROTO_SETUP,
  MUX_PROTO_TCP,
  MUX_PROTO_VERSION,
  SETUP_BYTE,
  TCP_HEADER_LENGTH,
  TCP_RST,
  encodeTcpPacket,
  encodeVersionPacket,
  flagNames,
  hex,
  readTcpHeader,
  writeMuxHeader,
  type TcpHeader,
} from './mux-packet.ts';

export interface MuxSessionOptions {
  /** Our receive window per connection in bytes (multiple of 256). Default 512 KiB, as usbmuxd2. */
  receiveWindow?: number;
  /** How long to wait for the device's VERSION answer. Default 5 s. */
  versionTimeoutMs?: number;
  /** How long to wait for SYN|ACK. Default 10 s. */
  connectTimeoutMs?: number;
  /** Longest delay before a consumed-but-unacknowledged receive window is announced. Default 10 ms. */
  ackDelayMs?: number;
  /** CONTROL packets and oddities go here (default: console.debug). */
  log?: (message: string) => void;
  /** Diagnostics: sees every packet both ways (the tap keeps headers only). */
  packetTap?: MuxPacketTap;
}

/** Called with each whole mux packet, before it is sent or as it arrives; must not keep or change it. */
export type MuxPacketTap = (direction: 'host' | 'device', packet: Uint8Array) => void;

/** usbmuxd2's receive window per connection (usbmuxd's is 128 KiB). */
export const DEFAULT_RECEIVE_WINDOW = 512 * 1024;
/** Packets this big (up to MAX_HOST_PACKET) go out in pooled buffers; ACKs and small writes keep fresh ones. */
const POOLED_PACKET_BYTES = 4096;
/** Enough for a window's worth of packets in flight (512 KiB / 48 KiB), so steady uploads allocate nothing. */
const SPARE_OUT_PACKETS = 12;
const noop = (): void => {};

const CONTROL_KINDS: Record<number, string> = { 3: 'error', 5: 'warning', 7: 'info' };

/**
 * The host end of one device's mux: version negotiation, the shared packet counters, and demultiplexing
 * the IN stream to MuxConnections by port. One per USB device.
 */
export class MuxSession {
  /** Negotiated protocol major version (1 or 2). */
  version = 0;
  readonly receiveWindow: number;
  readonly connectTimeoutMs: number;
  readonly ackDelayMs: number;
  readonly log: (message: string) => void;
  private readonly packetTap: MuxPacketTap | undefined;

  private headerLength = MUX_HEADER_V1;
  private txSeq = 0;
  private rxSeq = 0;
  private nextPort = 1;
  private readonly connections = new Map<number, MuxConnection>();
  private readonly assembler = new MuxPacketAssembler(MAX_DEVICE_PACKET);
  private failure: LifeboatError | undefined;
  private closed = false;
  private versionWaiter: { resolve: (major: number) => void; reject: (error: unknown) => void } | undefined;
  private readonly done: Promise<void>;
  /** One delayed-ACK timer for all connections (a timer per connection costs more than the ACKs). */
  private readonly ackPending = new Set<MuxConnection>();
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Buffers of big OUT packets whose transfers completed, for the next ones: fresh memory is page faults in Chromium. */
  private readonly spareOut: Uint8Array[] = [];
  /** The transfer being cut into packets, when the transport takes transfers back for reuse. */
  private lease: TransferLease | undefined;
  private leaseBuffer: ArrayBufferLike | undefined;

  private constructor(
    readonly transport: UsbMuxTransport,
    options: MuxSessionOptions,
  ) {
    this.receiveWindow = Math.max(256, (options.receiveWindow ?? DEFAULT_RECEIVE_WINDOW) & ~0xff);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.ackDelayMs = options.ackDelayMs ?? 10;
    this.log = options.log ?? ((message) => console.debug(`[usbmux] ${message}`));
    this.packetTap = options.packetTap;
    this.done = this.readLoop();
  }

  /** Starts reading, sends VERSION (proposing 2) and, for v2, SETUP. */
  static async open(transport: UsbMuxTransport, options: MuxSessionOptions = {}): Promise<MuxSession> {
    const session = new MuxSession(transport, options);
    try {
      await session.negotiate(options.versionTimeoutMs ?? 5000);
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  /** Opens a connection to a device port; ConnectionRefusedError when nothing listens there. */
  async connect(port: number): Promise<MuxConnection> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new DeviceDisconnectedError('The connection to the device was closed.');
    const localPort = this.allocatePort();
    const connection = new MuxConnection(this, localPort, port);
    this.connections.set(localPort, connection);
    await connection.open();
    return connection;
  }

  /** Resolves when the read loop ended (close or failure). */
  get finished(): Promise<void> {
    return this.done;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const connection of [...this.connections.values()]) connection.abort(new DeviceDisconnectedError('The connection to the device was closed.'));
    this.connections.clear();
    await this.transport.close();
    await this.done;
  }

  /** Sends one TCP packet with the shared counters; the returned promise settles with its transfer. */
  sendTcp(tcp: TcpHeader, payload?: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const size = payload === undefined ? 0 : this.headerLength + TCP_HEADER_LENGTH + payload.byteLength;
    const pooled = size >= POOLED_PACKET_BYTES && size <= MAX_HOST_PACKET ? (this.spareOut.pop() ?? new Uint8Array(MAX_HOST_PACKET)) : undefined;
    const packet = encodeTcpPacket(this.headerLength, this.txSeq, this.rxSeq, tcp, payload, pooled);
    this.txSeq = (this.txSeq + 1) & 0xffff;
    this.packetTap?.('host', packet);
    const written = this.transport.write(packet);
    if (pooled) {
      // Back to the pool once the transfer is done with it (never while it may still be read).
      written.then(
        () => {
          if (this.spareOut.length < SPARE_OUT_PACKETS) this.spareOut.push(pooled);
        },
        noop,
      );
    }
    return written;
  }

  /** Sends `connection`'s ACK within ackDelayMs, batched with the other connections'. */
  scheduleAck(connection: MuxConnection): void {
    this.ackPending.add(connection);
    if (this.ackTimer !== undefined) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      const due = [...this.ackPending];
      this.ackPending.clear();
      for (const c of due) c.flushAck();
    }, this.ackDelayMs);
  }

  /** Called by a connection when it is gone for good, so its port can be reused. */
  forget(connection: MuxConnection): void {
    this.ackPending.delete(connection);
    if (this.connections.get(connection.localPort) === connection) this.connections.delete(connection.localPort);
  }

  private async negotiate(timeoutMs: number): Promise<void> {
    const answer = new Promise<number>((resolve, reject) => (this.versionWaiter = { resolve, reject }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError('The device did not answer the usbmux VERSION request.')), timeoutMs);
    });
    try {
      const version = encodeVersionPacket(2, 0);
      this.packetTap?.('host', version);
      await this.transport.write(version);
      const major = await Promise.race([answer, timeout]);
      if (major !== 1 && major !== 2) {
        throw new ProtocolError('usbmux', `device speaks mux version ${major}; only 1 and 2 are supported`);
      }
      this.version = major;
      if (major === 2) {
        this.headerLength = MUX_HEADER_V2;
        this.txSeq = 0;
        this.rxSeq = 0xffff;
        const setup = new Uint8Array(MUX_HEADER_V2 + 1);
        writeMuxHeader(new DataView(setup.buffer), MUX_HEADER_V2, MUX_PROTO_SETUP, setup.byteLength, this.txSeq, this.rxSeq);
        setup[MUX_HEADER_V2] = SETUP_BYTE;
        this.txSeq = 1;
        this.packetTap?.('host', setup);
        await this.transport.write(setup);
      }
    } finally {
      clearTimeout(timer);
      this.versionWaiter = undefined;
    }
  }

  private allocatePort(): number {
    for (let tries = 0; tries < 0xffff; tries++) {
      const port = this.nextPort;
      this.nextPort = port >= 0xffff ? 1 : port + 1;
      if (!this.connections.has(port)) return port;
    }
    throw new ProtocolError('usbmux', 'no free local ports');
  }

  private async readLoop(): Promise<void> {
    const onPacket = (packet: Uint8Array): void => this.handlePacket(packet);
    const transport = this.transport;
    const release = transport.release ? (chunk: Uint8Array): void => transport.release!(chunk) : undefined;
    try {
      for (;;) {
        const chunk = await transport.read();
        if (chunk === null) break;
        if (!release) {
          this.assembler.push(chunk, onPacket);
          continue;
        }
        const lease = new TransferLease(chunk, release);
        this.lease = lease;
        this.leaseBuffer = chunk.buffer;
        this.assembler.push(chunk, onPacket);
        this.lease = undefined;
        this.leaseBuffer = undefined;
        lease.drop();
      }
      this.shutDown(new DeviceDisconnectedError('The connection to the device was closed.'));
    } catch (error) {
      this.shutDown(error instanceof LifeboatError ? error : new ProtocolError('usbmux', String(error), undefined, error));
    }
  }

  private shutDown(error: LifeboatError): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.ackPending.clear();
    if (!this.closed) this.failure = error;
    this.versionWaiter?.reject(error);
    for (const connection of [...this.connections.values()]) connection.abort(error);
    this.connections.clear();
    if (!this.closed && !(error instanceof DeviceDisconnectedError)) {
      // A protocol failure leaves the USB side open; release it.
      void this.transport.close().catch(() => {});
    }
  }

  private handlePacket(packet: Uint8Array): void {
    this.packetTap?.('device', packet);
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const protocol = view.getUint32(0);
    if (protocol === MUX_PROTO_VERSION) {
      if (packet.byteLength < MUX_HEADER_V1 + 4) throw new ProtocolError('usbmux', 'short VERSION packet', packet);
      const major = view.getUint32(MUX_HEADER_V1);
      if (this.versionWaiter) this.versionWaiter.resolve(major);
      else this.log(`unexpected VERSION ${major} from device`);
      return;
    }
    const headerLength = this.headerLength;
    if (headerLength === MUX_HEADER_V2) {
      if (packet.byteLength < MUX_HEADER_V2 || view.getUint32(8) !== MUX_MAGIC) {
        throw new ProtocolError('usbmux', 'packet without the 0xFEEDFACE magic', packet.subarray(0, 32));
      }
      // usbmuxd2's meaning: echo the device's tx_seq of the last packet received.
      this.rxSeq = view.getUint16(12);
    }
    if (protocol === MUX_PROTO_CONTROL) {
      const body = packet.subarray(headerLength);
      const kind = CONTROL_KINDS[body[0] ?? 0] ?? `type ${body[0]}`;
      this.log(`device ${kind}: ${new TextDecoder().decode(body.subarray(1))}`);
      return;
    }
    if (protocol !== MUX_PROTO_TCP) {
      this.log(`ignoring mux protocol ${protocol} (${hex(packet)})`);
      return;
    }
    if (this.version === 0) return; // usbmuxd drops TCP before the VERSION answer
    if (packet.byteLength < headerLength + TCP_HEADER_LENGTH) throw new ProtocolError('usbmux', 'short TCP packet', packet);
    const tcp = readTcpHeader(view, headerLength);
    const payload = packet.subarray(headerLength + TCP_HEADER_LENGTH);
    const connection = this.connections.get(tcp.destinationPort);
    if (connection && connection.remotePort === tcp.sourcePort) {
      // Packets reassembled across transfers live in their own memory and need no lease.
      connection.handlePacket(tcp, payload, payload.buffer === this.leaseBuffer ? this.lease : undefined);
      return;
    }
    if (tcp.flags & TCP_RST) return;
    this.log(`stray ${flagNames(tcp.flags)} ${tcp.sourcePort}→${tcp.destinationPort}; answering RST`);
    this.sendTcp({
      sourcePort: tcp.destinationPort,
      destinationPort: tcp.sourcePort,
      seq: 0,
      ack: tcp.seq,
      flags: TCP_RST,
      window: 0,
    }).catch(() => {});
  }
}
