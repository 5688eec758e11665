/** A tiny PNG encoder (RGBA, stored deflate blocks): app icons for springboardservices. */
import { concatBytes } from '../../core/bytes.ts';
import { crc32 } from '../../core/crc32.ts';

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const x of bytes) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** zlib stream made of uncompressed deflate blocks (valid for every inflater). */
function zlibStored(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.byteLength / 65535));
  const out = new Uint8Array(2 + blocks * 5 + data.byteLength + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let i = 0; i < blocks; i++) {
    const chunk = data.subarray(i * 65535, (i + 1) * 65535);
    out[o++] = i === blocks - 1 ? 1 : 0;
    out[o++] = chunk.byteLength & 0xff;
    out[o++] = chunk.byteLength >> 8;
    out[o++] = ~chunk.byteLength & 0xff;
    out[o++] = (~chunk.byteLength >> 8) & 0xff;
    out.set(chunk, o);
    o += chunk.byteLength;
  }
  new DataView(out.buffer).setUint32(o, adler32(data));
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.byteLength);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.byteLength, crc32(out.subarray(4, 8 + data.byteLength)));
  return out;
}

export function encodePng(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const raw = new Uint8Array(height * (1 + width * 4));
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (1 + width * 4) + 1);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlibStored(raw)), chunk('IEND', new Uint8Array(0))];
  return concatBytes(parts);
}

/** A rounded-square app icon in a colour derived from the bundle id. */
export function appIconPng(bundleId: string, size = 60): Uint8Array {
  let h = 0;
  for (const c of bundleId) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  const [r, g, b] = [h & 255, (h >> 8) & 255, (h >> 16) & 255];
  const rgba = new Uint8Array(size * size * 4);
  const radius = size * 0.22;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = Math.max(radius - x, x - (size - 1 - radius), 0);
      const dy = Math.max(radius - y, y - (size - 1 - radius), 0);
      const inside = dx * dx + dy * dy <= radius * radius;
      const i = (y * size + x) * 4;
      const glow = 1 - (0.4 * y) / size;
      rgba.set([r * glow, g * glow, b * glow, inside ? 255 : 0], i);
    }
  }
  return encodePng(rgba, size, size);
}
