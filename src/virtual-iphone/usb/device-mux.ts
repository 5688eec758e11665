import { ProtocolError } from '../../core/errors.ts';
import { MuxPacketAssembler } from '../../usbmux/mux-packet-assembler.ts';
import {
  MAX_DEVICE_PACKET,
  MAX_HOST_PACKET,
  MUX_HEADER_V1,
  MUX_HEADER_V2,
  MUX_MAGIC,
  MUX_PROTO_SETUP,
  MUX_PROTO_TCP,
  MUX_PROTO_VERSION,
  TCP_ACK,
  TCP_HEADER_LENGTH,
  TCP_RST,
  TCP_SYN,
  encodeTcpPacket,
  encodeVersionPacket,
  readTcpHeader,
  type TcpHeader,
} from '../../usbmux/mux-packet.ts';
import type { TransferLease } from '../../usbmux/transfer-lease.ts';
import type { LendingByteStream } from '../../core/stream-pair.ts';
import type { VirtualDevicePorts } from '../virtual-device.ts';
import { TransferBufferPool } from './transfer-buffer-pool.ts';

/** The device half of a USB function: gets completed OUT transfers, emits IN transfers. */
export interface UsbDeviceFunction {
  /**
   * Called with each completed OUT transfer (zero-length transfers included). With a `lease`, the
   * transfer's memory is lent: the function drops the lease once it holds no view of it, or pins it.
   */
  receive(transfer: Uint8Array, lease?: TransferLease): void;
  /** Where IN transfers go (set by the fake USB device). */
  attach(sendIn: (transfer: Uint8Array) => void): void;
  /** Unplug / bus reset: every connection is gone. */
  reset(): void;
  /**
   * Takes back the buffer of an IN transfer the host no longer references, for reuse (optional: the
   * fake USB device only calls it for transfers it handed out whole).
   */
  recycle?(buffer: ArrayBuffer): void;
}

/** Data packets at least this large are built in pooled buffers; small ones get exact-size memory. */
const POOLED_PAYLOAD = 16 * 1024;

export interface DeviceMuxOptions {
  /** Mux version the device answers with (default 2; 1 = old iOS, 8-byte headers throughout). */
  version?: 1 | 2;
  /** The device's receive window per connection, in bytes (default 512 KiB). */
  receiveWindow?: number;
  /** Largest packet the device sends, headers included (default 65536, usbmuxd's DEV_MRU). */
  maxPacket?: number;
  /** Longest delay before consumed bytes are acknowledged (default 5 ms). */
  ackDelayMs?: number;
  /** Misbehave: send regardless of the host's window (a broken or hostile device). */
  ignoreHostWindow?: boolean;
}

/** What the device saw; tests assert the host behaved. */
export interface DeviceMuxStats {
  versionRequests: number;
  setups: number;
  connectionsAccepted: number;
  connectionsRefused: number;
  /** Most bytes the host ever had outstanding (sent, not yet consumed by the service) on one connection. */
  maxHostBytesOutstanding: number;
  /** Times the host sent beyond the device's advertised window. */
  windowViolations: number;
  /** Host packets longer than usbmuxd's 49152-byte limit. */
  oversizedPackets: number;
  /** Bytes delivered to services / taken from services. */
  bytesFromHost: number;
  bytesToHost: number;
  /** Packets the host sent with a v2 tx_seq other than the expected next one. */
  sequenceErrors: number;
  lastError: string | undefined;
}

const noop = (): void => {};

/**
 * The device end of usbmux over raw bulk transfers: answers VERSION and SETUP, accepts SYNs into
 * VirtualDevicePorts, and relays bytes both ways — never beyond the host's window, and acknowledging
 * host data only once the service has read it.
 */
export class DeviceMux implements UsbDeviceFunction {
  readonly stats: DeviceMuxStats = {
    versionRequests: 0,
    setups: 0,
    connectionsAccepted: 0,
    connectionsRefused: 0,
    maxHostBytesOutstanding: 0,
    windowViolations: 0,
    oversizedPackets: 0,
    bytesFromHost: 0,
    bytesToHost: 0,
    sequenceErrors: 0,
    lastError: undefined,
  };
  readonly receiveWindow: number;
  readonly ignoreHostWindow: boolean;
  readonly maxPayload: number;
  readonly ackDelayMs: number;
  /** Where bulk data packets are built; buffers come back through `recycle`. */
  readonly pool: TransferBufferPool;
  private readonly version: 1 | 2;

  private sendIn: (transfer: Uint8Array) => void = noop;
  private assembler = new MuxPacketAssembler(MAX_DEVICE_PACKET, 'virtual-iphone mux');
  private negotiated = 0;
  private headerLength = MUX_HEADER_V1;
  private txSeq = 0;
  private rxSeq = 0xffff;
  private expectedHostSeq: number | undefined;
  private readonly connections = new Map<number, DeviceConnection>();
  private nextIsn = 0x2a000000;
  private readonly ackPending = new Set<DeviceConnection>();
  private ackTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly ports: VirtualDevicePorts,
    options: DeviceMuxOptions = {},
  ) {
    this.version = options.version ?? 2;
    this.receiveWindow = Math.max(256, (options.receiveWindow ?? 512 * 1024) & ~0xff);
    this.ignoreHostWindow = options.ignoreHostWindow === true;
    const maxPacket = Math.min(MAX_DEVICE_PACKET, options.maxPacket ?? MAX_DEVICE_PACKET);
    this.maxPayload = maxPacket - MUX_HEADER_V2 - TCP_HEADER_LENGTH;
    this.pool = new TransferBufferPool(maxPacket);
    this.ackDelayMs = options.ackDelayMs ?? 5;
  }

  attach(sendIn: (transfer: Uint8Array) => void): void {
    this.sendIn = sendIn;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  receive(transfer: Uint8Array, lease?: TransferLease): void {
    if (transfer.byteLength === 0) {
      lease?.drop();
      return;
    }
    try {
      // Packets reassembled across transfers live in their own memory and need no lease.
      this.assembler.push(transfer, (packet) => this.handlePacket(packet, packet.buffer === transfer.buffer ? lease : undefined));
    } catch (error) {
      // A real device would drop the garbage; keep the reason for tests and the log.
      this.stats.lastError = error instanceof Error ? error.message : String(error);
      this.assembler = new MuxPacketAssembler(MAX_DEVICE_PACKET, 'virtual-iphone mux');
    } finally {
      lease?.drop();
    }
  }

  reset(): void {
    for (const connection of this.connections.values()) connection.drop();
    this.connections.clear();
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.ackPending.clear();
    this.assembler = new MuxPacketAssembler(MAX_DEVICE_PACKET, 'virtual-iphone mux');
    this.negotiated = 0;
    this.headerLength = MUX_HEADER_V1;
    this.txSeq = 0;
    this.rxSeq = 0xffff;
    this.expectedHostSeq = undefined;
  }

  recycle(buffer: ArrayBuffer): void {
    this.pool.give(buffer);
  }

  /** Sends one TCP packet to the host (used by connections). */
  sendTcp(tcp: TcpHeader, payload?: Uint8Array): void {
    const into = payload && payload.byteLength >= POOLED_PAYLOAD ? this.pool.take() : undefined;
    const packet = encodeTcpPacket(this.headerLength, this.txSeq, this.rxSeq, tcp, payload, into);
    this.txSeq = (this.txSeq + 1) & 0xffff;
    this.sendIn(packet);
  }

  /** Delayed ACKs share one timer across connections. */
  scheduleAck(connection: DeviceConnection): void {
    this.ackPending.add(connection);
    if (this.ackTimer !== undefined) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      const due = [...this.ackPending];
      this.ackPending.clear();
      for (const c of due) c.flushAck();
    }, this.ackDelayMs);
  }

  forget(connection: DeviceConnection): void {
    this.ackPending.delete(connection);
    if (this.connections.get(connection.hostPort) === connection) this.connections.delete(connection.hostPort);
  }

  private handlePacket(packet: Uint8Array, lease: TransferLease | undefined): void {
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const protocol = view.getUint32(0);
    if (packet.byteLength > MAX_HOST_PACKET) this.stats.oversizedPackets++;
    if (protocol === MUX_PROTO_VERSION) {
      // A new VERSION means a new host session: forget everything from the last one.
      this.reset();
      this.stats.versionRequests++;
      const hostMajor = view.getUint32(MUX_HEADER_V1);
      const major = Math.min(hostMajor, this.version);
      this.sendIn(encodeVersionPacket(major, 0));
      this.negotiated = major;
      if (major >= 2) this.headerLength = MUX_HEADER_V2;
      return;
    }
    if (this.negotiated === 0) return;
    const headerLength = this.headerLength;
    if (headerLength === MUX_HEADER_V2) {
      if (view.getUint32(8) !== MUX_MAGIC) throw new ProtocolError('virtual-iphone mux', 'packet without magic', packet.subarray(0, 16));
      const hostTx = view.getUint16(12);
      if (this.expectedHostSeq !== undefined && hostTx !== this.expectedHostSeq) this.stats.sequenceErrors++;
      this.expectedHostSeq = (hostTx + 1) & 0xffff;
      this.rxSeq = hostTx;
    }
    if (protocol === MUX_PROTO_SETUP) {
      this.stats.setups++;
      this.txSeq = 0;
      return;
    }
    if (protocol !== MUX_PROTO_TCP) return;
    const tcp = readTcpHeader(view, headerLength);
    const payload = packet.subarray(headerLength + TCP_HEADER_LENGTH);
    const existing = this.connections.get(tcp.sourcePort);
    if (existing && existing.devicePort === tcp.destinationPort && tcp.flags !== TCP_SYN) {
      existing.handlePacket(tcp, payload, lease);
      return;
    }
    if (tcp.flags === TCP_SYN) {
      existing?.drop();
      this.accept(tcp);
      return;
    }
    if (tcp.flags & TCP_RST) return;
    this.sendTcp({ sourcePort: tcp.destinationPort, destinationPort: tcp.sourcePort, seq: 0, ack: tcp.seq, flags: TCP_RST, window: 0 });
  }

  private accept(syn: TcpHeader): void {
    // High water mark 0: a write resolves only once the service has read it, which is when we ack.
    // Copying reads: a service that copies the host's bytes out lets their transfer go back for reuse.
    const stream = this.ports.connect(syn.destinationPort, 0, { copyingReads: true });
    if (!stream) {
      this.stats.connectionsRefused++;
      this.sendTcp({
        sourcePort: syn.destinationPort,
        destinationPort: syn.sourcePort,
        seq: 0,
        ack: (syn.seq + 1) >>> 0,
        flags: TCP_RST | TCP_ACK,
        window: 0,
      });
      return;
    }
    this.stats.connectionsAccepted++;
    const isn = this.nextIsn;
    this.nextIsn = (this.nextIsn + 0x01000193) >>> 0;
    const connection = new DeviceConnection(this, stream, syn, isn);
    this.connections.set(syn.sourcePort, connection);
    connection.start();
  }
}

/** One accepted connection: host bytes → service stream, service stream → host packets. */
class DeviceConnection {
  readonly hostPort: number;
  readonly devicePort: number;
  private seq: number;
  private hostAck: number;
  private hostWindow: number;
  private expectedSeq: number;
  private consumedAck: number;
  private advertisedAck: number;
  private outstanding = 0;
  private closed = false;
  private windowWaiter: (() => void) | undefined;

  constructor(
    private readonly mux: DeviceMux,
    private readonly stream: LendingByteStream,
    syn: TcpHeader,
    isn: number,
  ) {
    this.hostPort = syn.sourcePort;
    this.devicePort = syn.destinationPort;
    this.seq = isn;
    this.hostAck = isn;
    this.hostWindow = syn.window;
    this.expectedSeq = (syn.seq + 1) >>> 0;
    this.consumedAck = this.expectedSeq;
    this.advertisedAck = this.expectedSeq;
  }

  start(): void {
    this.send(TCP_SYN | TCP_ACK);
    this.seq = (this.seq + 1) >>> 0;
    void this.pumpToHost();
  }

  handlePacket(tcp: TcpHeader, payload: Uint8Array, lease?: TransferLease): void {
    if (this.closed) return;
    if (tcp.flags & TCP_ACK) {
      this.hostAck = tcp.ack;
      this.hostWindow = tcp.window;
      const waiter = this.windowWaiter;
      if (waiter) {
        this.windowWaiter = undefined;
        waiter();
      }
    }
    if (tcp.flags & TCP_RST) {
      this.drop();
      return;
    }
    if (tcp.flags !== TCP_ACK) {
      this.send(TCP_RST);
      this.drop();
      return;
    }
    const length = payload.byteLength;
    if (length === 0) return;
    if (tcp.seq !== this.expectedSeq) {
      this.mux.stats.lastError = `port ${this.devicePort}: host data at seq ${tcp.seq}, expected ${this.expectedSeq}`;
      this.send(TCP_RST);
      this.drop();
      return;
    }
    this.expectedSeq = (this.expectedSeq + length) >>> 0;
    this.outstanding += length;
    const stats = this.mux.stats;
    if (this.outstanding > stats.maxHostBytesOutstanding) stats.maxHostBytesOutstanding = this.outstanding;
    if (this.outstanding > this.mux.receiveWindow) stats.windowViolations++;
    stats.bytesFromHost += length;
    // The payload views the host's transfer buffer: lent when it may go back (see TransferLease),
    // otherwise the device owns it from here on.
    const written = lease ? this.lend(payload, lease) : this.stream.write(payload);
    written.then(
      () => this.consumed(length),
      () => this.drop(),
    );
  }

  private lend(payload: Uint8Array, lease: TransferLease): Promise<void> {
    lease.hold();
    return this.stream.lendWrite(payload, {
      copied: () => lease.drop(),
      taken: () => {
        lease.pin();
        lease.drop();
      },
    });
  }

  /** The service went away or the device was reset: no more packets either way. */
  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.mux.forget(this);
    void this.stream.close();
    const waiter = this.windowWaiter;
    this.windowWaiter = undefined;
    waiter?.();
  }

  private consumed(length: number): void {
    if (this.closed) return;
    this.outstanding -= length;
    this.consumedAck = (this.consumedAck + length) >>> 0;
    const pending = (this.consumedAck - this.advertisedAck) >>> 0;
    if (pending >= this.mux.receiveWindow >>> 2) {
      this.send(TCP_ACK);
    } else {
      this.mux.scheduleAck(this);
    }
  }

  flushAck(): void {
    if (!this.closed && this.consumedAck !== this.advertisedAck) this.send(TCP_ACK);
  }

  private async pumpToHost(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.stream.read();
        if (this.closed) return;
        if (chunk === null) break;
        let offset = 0;
        const total = chunk.byteLength;
        while (offset < total) {
          if (this.closed) return;
          const inFlight = (this.seq - this.hostAck) >>> 0;
          const room = this.mux.ignoreHostWindow ? Number.MAX_SAFE_INTEGER : this.hostWindow - inFlight;
          const want = Math.min(total - offset, this.mux.maxPayload);
          if (room < want && !(inFlight === 0 && room > 0)) {
            await new Promise<void>((resolve) => (this.windowWaiter = resolve));
            continue;
          }
          const n = Math.min(want, room);
          this.send(TCP_ACK, chunk.subarray(offset, offset + n));
          this.seq = (this.seq + n) >>> 0;
          this.mux.stats.bytesToHost += n;
          offset += n;
        }
      }
      // The service closed its end: tell the host (any non-ACK segment closes on the host side).
      if (!this.closed) {
        this.send(TCP_RST | TCP_ACK);
        this.drop();
      }
    } catch {
      if (!this.closed) {
        this.send(TCP_RST);
        this.drop();
      }
    }
  }

  private send(flags: number, payload?: Uint8Array): void {
    this.advertisedAck = this.consumedAck;
    this.mux.sendTcp(
      {
        sourcePort: this.devicePort,
        destinationPort: this.hostPort,
        seq: this.seq,
        ack: this.consumedAck,
        flags,
        window: this.mux.receiveWindow,
      },
      payload,
    );
  }
}
