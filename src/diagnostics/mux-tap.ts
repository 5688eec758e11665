import type { TraceRecorder } from './trace-recorder.ts';

/** Mux header (16 bytes in v2) plus the TCP header that follows it in TCP packets. */
const HEADER_BYTES = 16 + 20;
/** Headers kept per session: the start of a session shows negotiation and setup; a long backup would drown the rest. */
export const DEFAULT_MUX_HEADER_LIMIT = 4000;

/**
 * A MuxSession packet tap (src/usbmux/mux-session.ts MuxPacketTap) that records packet headers as hex
 * (never payloads: those are the plist and file bytes, recorded redacted at the stream tap).
 */
export function muxHeaderTap(recorder: TraceRecorder, limit = DEFAULT_MUX_HEADER_LIMIT): (direction: 'host' | 'device', packet: Uint8Array) => void {
  let seen = 0;
  return (dir, packet) => {
    seen++;
    if (seen > limit) {
      if (seen === limit + 1) recorder.note(`only the first ${limit} mux packet headers are recorded`);
      return;
    }
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const protocol = packet.byteLength >= 4 ? view.getUint32(0) : -1;
    const header = [...packet.subarray(0, Math.min(HEADER_BYTES, packet.byteLength))].map((b) => b.toString(16).padStart(2, '0')).join('');
    recorder.add({ kind: 'mux', dir, protocol, length: packet.byteLength, header });
  };
}
