/**
 * Note bodies as iOS stores them in NoteStore.sqlite (ZICNOTEDATA.ZDATA): a gzip stream of a protobuf
 * NoteStoreProto { 2: Document { 2: version, 3: Note { 2: note_text } } }. The gzip uses stored deflate
 * blocks — valid for every reader, and synchronous, so database building stays synchronous.
 */
import { concatBytes as concat } from '../../core/bytes.ts';
import { crc32 } from '../../core/crc32.ts';

export function encodeNoteBody(text: string): Uint8Array {
  const note = lengthDelimited(2, new TextEncoder().encode(text));
  const document = concat([varintField(2, 0), lengthDelimited(3, note)]);
  return gzipStored(lengthDelimited(2, document));
}

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function varintField(field: number, value: number): Uint8Array {
  return new Uint8Array([...varint(field << 3), ...varint(value)]);
}

function lengthDelimited(field: number, bytes: Uint8Array): Uint8Array {
  return concat([new Uint8Array([...varint((field << 3) | 2), ...varint(bytes.length)]), bytes]);
}

function gzipStored(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])];
  for (let offset = 0; offset < data.length || offset === 0; offset += 0xffff) {
    const chunk = data.subarray(offset, offset + 0xffff);
    const last = offset + 0xffff >= data.length ? 1 : 0;
    parts.push(new Uint8Array([last, chunk.length & 0xff, chunk.length >> 8, ~chunk.length & 0xff, (~chunk.length >> 8) & 0xff]), chunk);
    if (last) break;
  }
  const trailer = new Uint8Array(8);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, crc32(data), true);
  view.setUint32(4, data.length, true);
  parts.push(trailer);
  return concat(parts);
}
