import { TlsError } from './errors.ts';

/**
 * Just enough DER to pull keys out of certificates and key files. Device certificates have odd
 * profiles (empty names, serial 1), so we walk to the fields we need and ignore the rest.
 */
export interface DerElement {
  tag: number;
  /** The value bytes. */
  content: Uint8Array;
  /** The whole TLV (tag, length and value). */
  whole: Uint8Array;
}

export function readDer(bytes: Uint8Array, offset = 0): DerElement {
  const fail = (why: string) => new TlsError(`malformed DER: ${why}`);
  if (offset + 2 > bytes.byteLength) throw fail('truncated header');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw fail('multi-byte tags are not supported');
  let len = bytes[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw fail('unsupported length form');
    if (pos + n > bytes.byteLength) throw fail('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[pos + i]!;
    pos += n;
  }
  if (pos + len > bytes.byteLength) throw fail('value runs past the end');
  return { tag, content: bytes.subarray(pos, pos + len), whole: bytes.subarray(offset, pos + len) };
}

/** The children of a constructed element, in order. */
export function derChildren(content: Uint8Array): DerElement[] {
  const out: DerElement[] = [];
  let offset = 0;
  while (offset < content.byteLength) {
    const el = readDer(content, offset);
    out.push(el);
    offset += el.whole.byteLength;
  }
  return out;
}

export function derSequence(bytes: Uint8Array, what: string): DerElement[] {
  const el = readDer(bytes);
  if (el.tag !== 0x30) throw new TlsError(`malformed DER: ${what} is not a SEQUENCE`);
  return derChildren(el.content);
}

export function derInteger(el: DerElement | undefined, what: string): bigint {
  if (!el || el.tag !== 0x02 || el.content.byteLength === 0) throw new TlsError(`malformed DER: ${what} is not an INTEGER`);
  let v = 0n;
  for (const b of el.content) v = (v << 8n) | BigInt(b);
  return v;
}

function encodeLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | bytes.length, ...bytes];
}

export function derEncode(tag: number, content: Uint8Array): Uint8Array {
  const head = [tag, ...encodeLength(content.byteLength)];
  const out = new Uint8Array(head.length + content.byteLength);
  out.set(head);
  out.set(content, head.length);
  return out;
}
