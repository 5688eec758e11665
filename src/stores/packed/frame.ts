/*
 * Framing for the journal and snapshots: [u32 payload length][u32 CRC-32 of payload][payload].
 * An unplug can leave a record half written; its checksum (or a length running past the end)
 * marks it, and everything from there on is ignored: the change it described was never
 * acknowledged, because data is written before the record that references it.
 */
import { crc32 } from '../../core/crc32.ts';

const HEADER = 8;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeFrame(value: unknown): Uint8Array {
  const json = encoder.encode(JSON.stringify(value));
  const out = new Uint8Array(HEADER + json.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.byteLength, true);
  view.setUint32(4, crc32(json), true);
  out.set(json, HEADER);
  return out;
}

/**
 * Frames appended into one growing buffer: a backup adds two or three journal records per file, and
 * a fresh ArrayBuffer per record (encode, then copy behind a header) was a visible share of a small
 * file's cost in Chromium, where every ArrayBuffer allocation is a trip through its allocator.
 */
export class FrameBuffer {
  private buffer = new Uint8Array(64 * 1024);
  private view = new DataView(this.buffer.buffer);
  /** Bytes of whole frames held. */
  length = 0;

  append(value: unknown): void {
    const json = JSON.stringify(value);
    // UTF-8 needs at most three bytes per UTF-16 unit.
    this.reserve(HEADER + json.length * 3);
    const at = this.length;
    const { written } = encoder.encodeInto(json, this.buffer.subarray(at + HEADER));
    this.view.setUint32(at, written, true);
    this.view.setUint32(at + 4, crc32(this.buffer.subarray(at + HEADER, at + HEADER + written)), true);
    this.length = at + HEADER + written;
  }

  /** The frames held, valid until the next append or clear. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  clear(): void {
    this.length = 0;
  }

  private reserve(more: number): void {
    if (this.length + more <= this.buffer.byteLength) return;
    const grown = new Uint8Array(Math.max(this.buffer.byteLength * 2, this.length + more));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }
}

export interface DecodedFrames {
  values: unknown[];
  /** Bytes of whole, valid frames: where the next append belongs. */
  validLength: number;
}

/** The whole, valid frame at `at` (its payload, and where the next one starts), or null if torn or corrupt. */
export function frameAt(bytes: Uint8Array, at: number): { payload: Uint8Array; end: number } | null {
  if (at + HEADER > bytes.byteLength) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, HEADER);
  const length = view.getUint32(0, true);
  const sum = view.getUint32(4, true);
  if (at + HEADER + length > bytes.byteLength) return null;
  const payload = bytes.subarray(at + HEADER, at + HEADER + length);
  return crc32(payload) === sum ? { payload, end: at + HEADER + length } : null;
}

/** A frame's payload as the JSON value it holds, or undefined if it is not JSON. */
export function parseFramePayload(payload: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(payload));
  } catch {
    return undefined;
  }
}

/** Every valid frame from the start, stopping at the first torn or corrupt one. */
export function decodeFrames(bytes: Uint8Array): DecodedFrames {
  const values: unknown[] = [];
  let at = 0;
  for (let frame = frameAt(bytes, 0); frame; frame = frameAt(bytes, at)) {
    const value = parseFramePayload(frame.payload);
    if (value === undefined) break;
    values.push(value);
    at = frame.end;
  }
  return { values, validLength: at };
}
