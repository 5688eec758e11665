/**
 * The usbmux wire format on the bulk pipe (host ↔ device), shared by the host stack and the virtual
 * iPhone's device end. All integers are big-endian. See shared/reference/transport.md §2.
 */
export const MUX_PROTO_VERSION = 0;
export const MUX_PROTO_CONTROL = 1;
export const MUX_PROTO_SETUP = 2;
export const MUX_PROTO_TCP = 6;

export const MUX_MAGIC = 0xfeedface;
/** Header length while the negotiated version is < 2 (and before negotiation). */
export const MUX_HEADER_V1 = 8;
export const MUX_HEADER_V2 = 16;
export const TCP_HEADER_LENGTH = 20;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** Largest host→device packet the device accepts (usbmuxd's USB_MTU), headers included. */
export const MAX_HOST_PACKET = 49152;
/** Payload limit per host packet (usbmuxd2 rounds down to a multiple of 256). */
export const MAX_HOST_PAYLOAD = 48896;
/** Largest device→host packet a host accepts (usbmuxd's DEV_MRU). */
export const MAX_DEVICE_PACKET = 65536;

/** The byte SETUP carries; undocumented, sent verbatim by every host. */
export const SETUP_BYTE = 0x07;

export interface MuxHeader {
  protocol: number;
  /** Whole packet length, header included. */
  length: number;
  /** v2 only. */
  txSeq: number;
  rxSeq: number;
}

export interface TcpHeader {
  sourcePort: number;
  destinationPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** Window in bytes (already scaled: field << 8). */
  window: number;
}

/** Writes a mux header at the start of `packet` (which must already be sized to its full length). */
export function writeMuxHeader(view: DataView, headerLength: number, protocol: number, length: number, txSeq: number, rxSeq: number): void {
  view.setUint32(0, protocol);
  view.setUint32(4, length);
  if (headerLength === MUX_HEADER_V2) {
    view.setUint32(8, MUX_MAGIC);
    view.setUint16(12, txSeq & 0xffff);
    view.setUint16(14, rxSeq & 0xffff);
  }
}

/** Writes the 20-byte TCP sub-header at `offset`; window is in bytes and is sent as bytes >> 8. */
export function writeTcpHeader(view: DataView, offset: number, tcp: TcpHeader): void {
  view.setUint16(offset, tcp.sourcePort);
  view.setUint16(offset + 2, tcp.destinationPort);
  view.setUint32(offset + 4, tcp.seq >>> 0);
  view.setUint32(offset + 8, tcp.ack >>> 0);
  view.setUint8(offset + 12, 0x50);
  view.setUint8(offset + 13, tcp.flags);
  view.setUint16(offset + 14, Math.min(0xffff, tcp.window >>> 8));
  view.setUint16(offset + 16, 0);
  view.setUint16(offset + 18, 0);
}

export function readTcpHeader(view: DataView, offset: number): TcpHeader {
  return {
    sourcePort: view.getUint16(offset),
    destinationPort: view.getUint16(offset + 2),
    seq: view.getUint32(offset + 4),
    ack: view.getUint32(offset + 8),
    flags: view.getUint8(offset + 13),
    window: view.getUint16(offset + 14) << 8,
  };
}

/** A VERSION packet; always sent with the 8-byte header. */
export function encodeVersionPacket(major: number, minor: number): Uint8Array {
  const packet = new Uint8Array(MUX_HEADER_V1 + 12);
  const view = new DataView(packet.buffer);
  writeMuxHeader(view, MUX_HEADER_V1, MUX_PROTO_VERSION, packet.byteLength, 0, 0);
  view.setUint32(8, major);
  view.setUint32(12, minor);
  view.setUint32(16, 0);
  return packet;
}

/**
 * One TCP packet: header(s) plus a copy of `payload` (the one copy the OUT path makes). With `into`
 * (at least the packet's length, e.g. a pooled transfer buffer) the packet is written at its start and
 * returned as a view of it instead of in fresh memory.
 */
export function encodeTcpPacket(
  headerLength: number,
  txSeq: number,
  rxSeq: number,
  tcp: TcpHeader,
  payload?: Uint8Array,
  into?: Uint8Array,
): Uint8Array {
  const payloadLength = payload?.byteLength ?? 0;
  const length = headerLength + TCP_HEADER_LENGTH + payloadLength;
  const packet = into ? into.subarray(0, length) : new Uint8Array(length);
  if (packet.byteLength < length) throw new RangeError(`packet of ${length} bytes does not fit a ${packet.byteLength}-byte buffer`);
  const view = new DataView(packet.buffer, packet.byteOffset, length);
  writeMuxHeader(view, headerLength, MUX_PROTO_TCP, length, txSeq, rxSeq);
  writeTcpHeader(view, headerLength, tcp);
  if (payload && payloadLength > 0) packet.set(payload, headerLength + TCP_HEADER_LENGTH);
  return packet;
}

export function flagNames(flags: number): string {
  const names: string[] = [];
  if (flags & TCP_FIN) names.push('FIN');
  if (flags & TCP_SYN) names.push('SYN');
  if (flags & TCP_RST) names.push('RST');
  if (flags & TCP_PSH) names.push('PSH');
  if (flags & TCP_ACK) names.push('ACK');
  return names.join('|') || 'none';
}

export function hex(bytes: Uint8Array, max = 64): string {
  let out = '';
  for (let i = 0; i < Math.min(bytes.byteLength, max); i++) out += bytes[i]!.toString(16).padStart(2, '0');
  return bytes.byteLength > max ? `${out}…` : out;
}
