import { ProtocolError } from '../core/errors.ts';
import { MUX_HEADER_V1 } from './mux-packet.ts';

/**
 * Cuts the bulk pipe's byte stream into mux packets. A packet that arrives whole inside one transfer
 * is handed on as a subarray (no copy); only packets split across transfers are reassembled.
 * The length field sits at the same offset in v1 and v2 headers, so framing never needs the version.
 */
export class MuxPacketAssembler {
  private readonly head = new Uint8Array(MUX_HEADER_V1);
  private headFill = 0;
  private partial: Uint8Array | null = null;
  private partialFill = 0;

  constructor(
    private readonly maxPacket: number,
    private readonly layer = 'usbmux',
  ) {}

  /** Feeds one chunk; calls `onPacket` for each completed packet, in order. */
  push(chunk: Uint8Array, onPacket: (packet: Uint8Array) => void): void {
    let offset = 0;
    const end = chunk.byteLength;
    while (offset < end) {
      if (this.partial !== null) {
        const take = Math.min(this.partial.byteLength - this.partialFill, end - offset);
        this.partial.set(chunk.subarray(offset, offset + take), this.partialFill);
        this.partialFill += take;
        offset += take;
        if (this.partialFill === this.partial.byteLength) {
          const packet = this.partial;
          this.partial = null;
          onPacket(packet);
        }
        continue;
      }
      if (this.headFill > 0) {
        const take = Math.min(MUX_HEADER_V1 - this.headFill, end - offset);
        this.head.set(chunk.subarray(offset, offset + take), this.headFill);
        this.headFill += take;
        offset += take;
        if (this.headFill < MUX_HEADER_V1) return;
        const length = this.checkLength(this.head, 0);
        this.headFill = 0;
        this.partial = new Uint8Array(length);
        this.partial.set(this.head);
        this.partialFill = MUX_HEADER_V1;
        if (length === MUX_HEADER_V1) {
          const packet = this.partial;
          this.partial = null;
          onPacket(packet);
        }
        continue;
      }
      const remaining = end - offset;
      if (remaining < MUX_HEADER_V1) {
        this.head.set(chunk.subarray(offset, end));
        this.headFill = remaining;
        return;
      }
      const length = this.checkLength(chunk, offset);
      if (remaining >= length) {
        onPacket(chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        this.partial = new Uint8Array(length);
        this.partial.set(chunk.subarray(offset, end));
        this.partialFill = remaining;
        return;
      }
    }
  }

  /** Bytes held back waiting for the rest of a packet. */
  get buffered(): number {
    return this.headFill + (this.partial ? this.partialFill : 0);
  }

  private checkLength(bytes: Uint8Array, offset: number): number {
    const length = ((bytes[offset + 4]! << 24) | (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!) >>> 0;
    if (length < MUX_HEADER_V1 || length > this.maxPacket) {
      throw new ProtocolError(
        this.layer,
        `mux packet length ${length} is outside 8…${this.maxPacket}`,
        bytes.subarray(offset, offset + Math.min(32, bytes.byteLength - offset)),
      );
    }
    return length;
  }
}

