import { BufferedReader } from '../../src/core/buffered-reader.ts';
import { LifeboatError, ProtocolError } from '../../src/core/errors.ts';
import type { PlistDict } from '../../src/plist/index.ts';
import type { UsbMuxTransport } from '../../src/usb/usb-mux-transport.ts';
import { MuxSession } from '../../src/usbmux/mux-session.ts';
import {
  MAX_DEVICE_PACKET,
  MUX_HEADER_V1,
  MUX_HEADER_V2,
  MUX_PROTO_CONTROL,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  encodeTcpPacket,
  encodeVersionPacket,
  writeMuxHeader,
} from '../../src/usbmux/mux-packet.ts';
import { MuxPacketAssembler } from '../../src/usbmux/mux-packet-assembler.ts';
import { UsbmuxdClient } from '../../src/usbmux/node/usbmuxd-client.ts';
import { decodePlistBody, encodeFrame, encodePlistFrame, readFrame } from '../../src/usbmux/node/usbmuxd-protocol.ts';
import type { Rng } from '../rng.ts';
import { ReplayStream } from '../streams.ts';
import { type FuzzTarget, messageShape, sizeClass } from '../target.ts';
import { concatBytes } from '../../src/core/bytes.ts';

const LOCKDOWN_PORT = 62078;
/** MuxSession hands out local ports from 1, so the first connection is port 1. */
const FIRST_LOCAL_PORT = 1;

function tcp(version: 1 | 2, txSeq: number, flags: number, seq: number, ack: number, payload?: Uint8Array): Uint8Array {
  return encodeTcpPacket(version === 2 ? MUX_HEADER_V2 : MUX_HEADER_V1, txSeq, 0, { sourcePort: LOCKDOWN_PORT, destinationPort: FIRST_LOCAL_PORT, seq, ack, flags, window: 0x40000 }, payload);
}

function control(kind: number, text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const packet = new Uint8Array(MUX_HEADER_V2 + 1 + body.length);
  writeMuxHeader(new DataView(packet.buffer), MUX_HEADER_V2, MUX_PROTO_CONTROL, packet.length, 0, 0);
  packet[MUX_HEADER_V2] = kind;
  packet.set(body, MUX_HEADER_V2 + 1);
  return packet;
}

/** A device's side of a session: VERSION answer, SYN|ACK to our first connection, data, close. */
function deviceConversation(rng: Rng | undefined, version: 1 | 2 = 2): Uint8Array {
  const pieces: Uint8Array[] = [encodeVersionPacket(version, 0)];
  let seq = rng ? rng.u32() : 1000;
  let tx = 0;
  pieces.push(tcp(version, tx++, TCP_SYN | TCP_ACK, seq, 1));
  seq = (seq + 1) >>> 0;
  const packets = rng ? rng.below(6) : 3;
  for (let i = 0; i < packets; i++) {
    const n = rng ? rng.size(2000) : 40 * (i + 1);
    const payload = rng ? rng.bytes(n) : new Uint8Array(n).fill(0x41 + i);
    pieces.push(tcp(version, tx++, TCP_ACK, seq, 1, payload));
    seq = (seq + n) >>> 0;
    if (rng?.chance(0.2)) pieces.push(control(rng.pick([3, 5, 7, 9]), 'device says hi'));
  }
  pieces.push(tcp(version, tx++, rng ? rng.pick([TCP_FIN, TCP_RST, TCP_ACK | TCP_FIN, TCP_ACK]) : TCP_RST, seq, 1));
  return concatBytes(pieces);
}

/**
 * The IN pipe of a USB mux, replayed: the first read is the VERSION answer's 20 bytes, the rest
 * only after the host opened its connection, so data lands on a live connection.
 */
class ReplayTransport implements UsbMuxTransport {
  readonly serialNumber = '00008030000000000000001E';
  readonly udid = '00008030-000000000000001E';
  readonly productId = 0x12a8;
  private readonly rest: ReplayStream;
  private first = true;
  private gate: Promise<void>;
  openGate!: () => void;

  constructor(private readonly input: Uint8Array) {
    this.rest = new ReplayStream(input.subarray(20), [512, 16384, 1, 65536, 7]);
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  async read(): Promise<Uint8Array | null> {
    if (this.first) {
      this.first = false;
      return this.input.slice(0, 20);
    }
    await this.gate;
    return this.rest.read();
  }

  async write(): Promise<void> {}

  async close(): Promise<void> {
    this.openGate();
    await this.rest.close();
  }
}

/** Errors the session swallowed into a ProtocolError still have to be typed underneath. */
function assertTyped(error: unknown): void {
  if (!(error instanceof LifeboatError)) throw error;
  if (error instanceof ProtocolError && error.cause !== undefined && !(error.cause instanceof LifeboatError)) throw error.cause;
}

export const usbmuxSession: FuzzTarget = {
  name: 'usbmux-packets',
  async seeds() {
    return [deviceConversation(undefined, 2), deviceConversation(undefined, 1)];
  },
  generate: (rng) => deviceConversation(rng, rng.chance(0.8) ? 2 : 1),
  maxInput: 256 * 1024,
  async run(input) {
    // The packet framing alone, fed in awkward pieces.
    const assembler = new MuxPacketAssembler(MAX_DEVICE_PACKET);
    for (let at = 0, step = 1; at < input.length; at += step, step = step * 3 + 1) assembler.push(input.subarray(at, at + step), () => {});

    const transport = new ReplayTransport(input);
    const logs: string[] = [];
    // A session that never hears VERSION times out; give up on it at once (the timer is not the parser).
    const opening = MuxSession.open(transport, { versionTimeoutMs: 0, connectTimeoutMs: 50, ackDelayMs: 1, log: (m) => logs.length < 16 && logs.push(m) });
    let session: MuxSession;
    try {
      session = await opening;
    } catch (error) {
      assertTyped(error);
      return `open failed: ${messageShape(error)}`;
    }
    let received = 0;
    let ended = 'clean end';
    try {
      const connecting = session.connect(LOCKDOWN_PORT);
      transport.openGate();
      const connection = await connecting;
      for (let chunk = await connection.read(); chunk !== null; chunk = await connection.read()) received += chunk.length;
    } catch (error) {
      assertTyped(error);
      ended = messageShape(error);
    } finally {
      await session.close();
    }
    const failure = (session as unknown as { failure?: unknown }).failure;
    if (failure !== undefined) assertTyped(failure);
    return `v${session.version} received ${sizeClass(received)} ${ended} logs ${logs.map((l) => l.split(' ')[0]).join(',')}`;
  },
};

/** usbmuxd socket frames: a stream of 16-byte headers and plist bodies, as either side reads them. */
function usbmuxdFrames(rng: Rng | undefined): Uint8Array {
  const device = { DeviceID: 3, Properties: { SerialNumber: '00008030000000000000001E', ProductID: 0x12a8, ConnectionType: 'USB', LocationID: 0, ConnectionSpeed: 480000000, DeviceID: 3 } };
  const bodies: PlistDict[] = [
    { MessageType: 'Result', Number: 0 },
    { DeviceList: [{ MessageType: 'Attached', ...device }] },
    { MessageType: 'Attached', ...device },
    { MessageType: 'Detached', DeviceID: 3 },
    { PairRecordData: new Uint8Array([0x62, 0x70, 0x6c, 0x69, 0x73, 0x74, 0x30, 0x30]) },
    { BUID: '00000000-0000-0000-0000-000000000000' },
  ];
  const frames: Uint8Array[] = [];
  const n = rng ? 1 + rng.below(4) : bodies.length;
  for (let i = 0; i < n; i++) {
    const body = rng ? rng.pick(bodies) : bodies[i]!;
    frames.push(rng?.chance(0.1) ? encodeFrame(0, 1, 1, new Uint8Array([0, 0, 0, 0])) : encodePlistFrame(1, body));
  }
  return concatBytes(frames);
}

export const usbmuxdProtocol: FuzzTarget = {
  name: 'usbmuxd-frames',
  async seeds() {
    return [usbmuxdFrames(undefined)];
  },
  generate: (rng) => usbmuxdFrames(rng),
  async run(input) {
    const reader = new BufferedReader(new ReplayStream(input), 'usbmuxd');
    for (let frame = await readFrame(reader); frame !== null; frame = await readFrame(reader)) {
      if (frame.header.version === 1) decodePlistBody(frame);
    }
  },
};

/**
 * The daemon's side of one command: the input replayed in awkward chunks after the request, as a
 * socket would deliver it. The client's own code above the socket (reply framing, tag matching,
 * result codes, the Connect stream handing over buffered bytes) is what runs; a real Unix socket per
 * execution cost ~10 ms of kernel round trips and is not a parser.
 */
class ReplayedDaemon extends ReplayStream {
  destroy(): void {
    void this.close();
  }
}

export const usbmuxdClient: FuzzTarget = {
  name: 'usbmuxd-client',
  async seeds() {
    return [usbmuxdFrames(undefined)];
  },
  generate: (rng) => usbmuxdFrames(rng),
  async run(input) {
    const client = new UsbmuxdClient({ address: 'UNIX:/nonexistent/usbmuxd', timeoutMs: 2000, openStream: async () => new ReplayedDaemon(input) });
    switch (input.length % 4) {
      case 0:
        await client.listDevices();
        break;
      case 1:
        await client.readPairRecord('00008030-000000000000001E');
        break;
      case 2:
        await client.readBuid();
        break;
      default: {
        const stream = await client.connect(3, LOCKDOWN_PORT);
        for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read());
        await stream.close();
      }
    }
  },
  expected: (e) => e instanceof LifeboatError,
};
