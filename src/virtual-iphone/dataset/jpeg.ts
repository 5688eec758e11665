/**
 * A minimal baseline JPEG encoder (JFIF, 8-bit YCbCr 4:4:4, one scan). Camera-roll files in
 * the virtual iPhone's dataset are real, decodable images, so photo previews and thumbnails
 * in the library can be tested against genuine JPEG data.
 */

const LUMA_QUANT = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87,
  80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92,
  95, 98, 112, 100, 103, 99,
];
const CHROMA_QUANT = (() => {
  const t = new Array<number>(64).fill(99);
  const head = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 99, 47, 66, 99, 99];
  for (let i = 0; i < 16; i++) t[Math.floor(i / 4) * 8 + (i % 4)] = head[i]!;
  return t;
})();

/** ZIGZAG[k] = natural (row-major) index of the k-th coefficient in zigzag order. */
const ZIGZAG = (() => {
  const order: number[] = [];
  for (let s = 0; s < 15; s++) {
    const cells: number[] = [];
    for (let y = 0; y < 8; y++) {
      const x = s - y;
      if (x >= 0 && x < 8) cells.push(y * 8 + x);
    }
    // Even diagonals run bottom-left → top-right.
    order.push(...(s % 2 === 0 ? cells.reverse() : cells));
  }
  return order;
})();

interface HuffmanTable {
  bits: number[]; // count of codes per length 1..16
  values: number[];
  code: Map<number, { code: number; length: number }>;
}

function buildTable(bits: number[], values: number[]): HuffmanTable {
  const code = new Map<number, { code: number; length: number }>();
  let next = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    for (let i = 0; i < bits[length - 1]!; i++) {
      code.set(values[k++]!, { code: next++, length });
    }
    next <<= 1;
  }
  return { bits, values, code };
}

const DC_TABLE = buildTable([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

/** AC symbols ordered by how often small runs/sizes occur; lengths keep the Kraft sum below 1. */
const AC_TABLE = (() => {
  const symbols: number[] = [];
  for (let run = 0; run < 16; run++) for (let size = 1; size <= 10; size++) symbols.push((run << 4) | size);
  symbols.sort((a, b) => (a >> 4) + (a & 15) - ((b >> 4) + (b & 15)) || a - b);
  const values = [0x00, ...symbols.slice(0, 14), 0xf0, ...symbols.slice(14)];
  // 1×2 bits, 2×3, 4×5, 8×7, rest ×9: 1/4 + 2/8 + 4/32 + 8/128 + 147/512 < 1.
  const bits = [0, 1, 2, 0, 4, 0, 8, 0, values.length - 15, 0, 0, 0, 0, 0, 0, 0];
  return buildTable(bits, values);
})();

class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private count = 0;

  write(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >>> i) & 1);
      if (++this.count === 8) this.flushByte();
    }
  }

  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0x00); // byte stuffing
    this.acc = 0;
    this.count = 0;
  }

  finish(): number[] {
    while (this.count !== 0) this.write(1, 1); // pad with 1-bits
    return this.bytes;
  }
}

const COS = (() => {
  const t = new Float64Array(64);
  for (let x = 0; x < 8; x++) for (let u = 0; u < 8; u++) t[x * 8 + u] = Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  return t;
})();

function forwardDct(block: Float64Array, out: Float64Array): void {
  const tmp = new Float64Array(64);
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += block[y * 8 + x]! * COS[x * 8 + u]!;
      tmp[y * 8 + u] = s * (u === 0 ? Math.SQRT1_2 : 1) * 0.5;
    }
  }
  for (let u = 0; u < 8; u++) {
    for (let v = 0; v < 8; v++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += tmp[y * 8 + u]! * COS[y * 8 + v]!;
      out[v * 8 + u] = s * (v === 0 ? Math.SQRT1_2 : 1) * 0.5;
    }
  }
}

function scaledQuant(base: number[], quality: number): number[] {
  const q = Math.min(100, Math.max(1, quality));
  const scale = q < 50 ? 5000 / q : 200 - 2 * q;
  // Quantisers are kept in zigzag order: that is how DQT stores them and how coefficients are visited.
  return ZIGZAG.map((natural) => Math.min(255, Math.max(1, Math.floor((base[natural]! * scale + 50) / 100))));
}

function category(value: number): number {
  let v = Math.abs(value);
  let n = 0;
  while (v > 0) {
    n++;
    v >>= 1;
  }
  return n;
}

function writeSymbol(out: BitWriter, table: HuffmanTable, symbol: number): void {
  const entry = table.code.get(symbol);
  if (!entry) throw new Error(`JPEG: no Huffman code for symbol ${symbol}`);
  out.write(entry.code, entry.length);
}

function writeValue(out: BitWriter, value: number, size: number): void {
  if (size === 0) return;
  out.write(value < 0 ? value + (1 << size) - 1 : value, size);
}

/** Encodes packed RGB (3 bytes per pixel) as a baseline JPEG. */
export function encodeJpeg(rgb: Uint8Array, width: number, height: number, quality = 80): Uint8Array {
  if (rgb.byteLength !== width * height * 3) throw new Error('JPEG: pixel buffer does not match the size');
  const quants = [scaledQuant(LUMA_QUANT, quality), scaledQuant(CHROMA_QUANT, quality)];
  const planes = [new Float64Array(width * height), new Float64Array(width * height), new Float64Array(width * height)];
  for (let i = 0; i < width * height; i++) {
    const r = rgb[i * 3]!;
    const g = rgb[i * 3 + 1]!;
    const b = rgb[i * 3 + 2]!;
    planes[0]![i] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
    planes[1]![i] = -0.168736 * r - 0.331264 * g + 0.5 * b;
    planes[2]![i] = 0.5 * r - 0.418688 * g - 0.081312 * b;
  }
  const bits = new BitWriter();
  const previousDc = [0, 0, 0];
  const block = new Float64Array(64);
  const coeffs = new Float64Array(64);
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      for (let c = 0; c < 3; c++) {
        const plane = planes[c]!;
        for (let y = 0; y < 8; y++) {
          const sy = Math.min(height - 1, by + y); // replicate edge pixels into partial blocks
          for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[sy * width + Math.min(width - 1, bx + x)]!;
        }
        forwardDct(block, coeffs);
        const quant = quants[c === 0 ? 0 : 1]!;
        const zz = ZIGZAG.map((natural, k) => {
          const v = Math.round(coeffs[natural]! / quant[k]!);
          return Math.max(k === 0 ? -2047 : -1023, Math.min(k === 0 ? 2047 : 1023, v));
        });
        const diff = zz[0]! - previousDc[c]!;
        previousDc[c] = zz[0]!;
        const dcSize = category(diff);
        writeSymbol(bits, DC_TABLE, dcSize);
        writeValue(bits, diff, dcSize);
        let run = 0;
        for (let k = 1; k < 64; k++) {
          const v = zz[k]!;
          if (v === 0) {
            run++;
            continue;
          }
          while (run > 15) {
            writeSymbol(bits, AC_TABLE, 0xf0);
            run -= 16;
          }
          const size = category(v);
          writeSymbol(bits, AC_TABLE, (run << 4) | size);
          writeValue(bits, v, size);
          run = 0;
        }
        if (run > 0) writeSymbol(bits, AC_TABLE, 0x00);
      }
    }
  }
  const out: number[] = [0xff, 0xd8];
  const segment = (marker: number, body: number[]): void => {
    out.push(0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body);
  };
  segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 72, 0, 72, 0, 0]);
  segment(0xdb, [0x00, ...quants[0]!, 0x01, ...quants[1]!]); // tables already in zigzag order
  segment(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]);
  const dht: number[] = [];
  for (const [id, table] of [
    [0x00, DC_TABLE],
    [0x10, AC_TABLE],
    [0x01, DC_TABLE],
    [0x11, AC_TABLE],
  ] as const) {
    dht.push(id, ...table.bits, ...table.values);
  }
  segment(0xc4, dht);
  segment(0xda, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
  const scan = bits.finish();
  for (const b of scan) out.push(b);
  out.push(0xff, 0xd9);
  return Uint8Array.from(out);
}
