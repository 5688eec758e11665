import { PlistReal, PlistUid, type PlistDict, type PlistValue } from '../../src/plist/index.ts';

/** Deterministic PRNG (mulberry32) so every randomized test replays exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TreeOptions {
  /** Unpaired UTF-16 surrogates (only our binary codec and JS can carry them). */
  loneSurrogates?: boolean;
  /** C0 control characters other than TAB/LF (XML cannot carry them). */
  controlChars?: boolean;
  /** Carriage returns (XML parsers normalise a literal CR; ours escapes it). */
  carriageReturn?: boolean;
  uids?: boolean;
  /** Millisecond dates; otherwise whole seconds, as XML stores them. */
  msDates?: boolean;
  /** NaN and ±Infinity reals. */
  nonFinite?: boolean;
  /** plistlib's binary writer merges -0.0 into an equal 0.0 object, so its corpora avoid -0. */
  noNegativeZero?: boolean;
  maxDepth?: number;
}

const PIECES = ['a', 'Z', '0', ' ', '\t', '\n', '<', '>', '&', '"', "'", ']]>', 'é', 'ß', 'Ω', '中文', 'キ', '😀', '👩‍👩‍👧', '\u00a0', '\ufeff', 'CF$UID', '$null'];

export class TreeGenerator {
  private readonly rand: () => number;
  constructor(
    seed: number,
    private readonly options: TreeOptions = {},
  ) {
    this.rand = seededRandom(seed);
  }

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  string(): string {
    const long = this.rand() < 0.05;
    const n = long ? 100 + this.int(400) : this.int(20);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.rand();
      if (r < 0.55) parts.push(String.fromCharCode(0x20 + this.int(0x5f)));
      else if (r < 0.85) parts.push(this.pick(PIECES));
      else if (r < 0.9 && this.options.controlChars) parts.push(String.fromCharCode(this.pick([0, 1, 7, 8, 0x0b, 0x0c, 0x1b, 0x1f])));
      else if (r < 0.93 && this.options.carriageReturn) parts.push('\r');
      else if (r < 0.96 && this.options.loneSurrogates) parts.push(String.fromCharCode(0xd800 + this.int(0x800)));
      else parts.push(String.fromCodePoint(0x80 + this.int(0xd000)));
    }
    return parts.join('');
  }

  integer(): number | bigint {
    switch (this.int(8)) {
      case 0:
        return this.int(256);
      case 1:
        return this.int(65536);
      case 2:
        return this.int(2 ** 32);
      case 3:
        return this.int(2 ** 21) * 2 ** 32 + this.int(2 ** 32);
      case 4:
        return -this.int(1000) - 1;
      case 5: {
        // Negative beyond 2^53: a bigint down to -2^63.
        const v = -(BigInt(this.int(2 ** 31)) << 32n) - BigInt(this.int(2 ** 32)) - (1n << 53n);
        return v < -(1n << 63n) ? -(1n << 63n) : v;
      }
      case 6:
        // 2^53 ≤ v < 2^64, including the 16-byte 2^63… range.
        return (1n << 53n) + ((BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32))) % ((1n << 64n) - (1n << 53n));
      default:
        return this.pick([0, 1, -1, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, -(1n << 63n)]);
    }
  }

  real(): PlistReal {
    const r = this.rand();
    if (r < 0.3) return new PlistReal((this.rand() - 0.5) * 10 ** (this.int(40) - 20));
    if (r < 0.5) return new PlistReal(this.int(2000) - 1000);
    if (r < 0.6) return new PlistReal(this.pick([0, this.options.noNegativeZero ? 0.25 : -0, 0.1, 1e300, -1e-300, 5e-324, Number.MAX_VALUE, 2 ** 53 + 2]));
    if (r < 0.65 && this.options.nonFinite) return new PlistReal(this.pick([NaN, Infinity, -Infinity]));
    // Any finite float64 bit pattern.
    const view = new DataView(new ArrayBuffer(8));
    view.setUint32(0, this.int(2 ** 32));
    view.setUint32(4, this.int(2 ** 32));
    const v = view.getFloat64(0);
    return new PlistReal(Number.isFinite(v) ? v : 1.5);
  }

  date(): Date {
    // 1950…2100, around both epochs.
    const seconds = -631152000 + this.int(4733510400);
    return new Date(seconds * 1000 + (this.options.msDates ? this.int(1000) : 0));
  }

  data(): Uint8Array {
    const n = this.rand() < 0.05 ? 1000 + this.int(3000) : this.int(60);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  scalar(): PlistValue {
    const kinds = this.options.uids ? 8 : 7;
    switch (this.int(kinds)) {
      case 0:
        return this.string();
      case 1:
        return this.integer();
      case 2:
        return this.real();
      case 3:
        return this.rand() < 0.5;
      case 4:
        return this.date();
      case 5:
        return this.data();
      case 6:
        return this.string();
      default:
        return new PlistUid(this.pick([0, 1, 255, 256, 65535, 65536, 2 ** 32 - 1, this.int(2 ** 32)]));
    }
  }

  tree(depth = 0): PlistValue {
    const maxDepth = this.options.maxDepth ?? 5;
    const r = this.rand();
    if (depth >= maxDepth || r < 0.45) return this.scalar();
    const n = this.rand() < 0.05 ? 15 + this.int(40) : this.int(8);
    if (r < 0.7) {
      const out: PlistValue[] = [];
      for (let i = 0; i < n; i++) out.push(this.tree(depth + 1));
      return out;
    }
    const out: PlistDict = {};
    for (let i = 0; i < n; i++) {
      const key = this.rand() < 0.02 ? '__proto__' : this.string();
      Object.defineProperty(out, key, { value: this.tree(depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  /** A container at the top, as real documents have. */
  document(): PlistValue {
    const out: PlistDict = {};
    const n = 1 + this.int(6);
    for (let i = 0; i < n; i++) out[this.string()] = this.tree(1);
    return this.rand() < 0.2 ? [out, this.tree(1)] : out;
  }
}

/** A canonical, JSON-safe description of a value, independent of dict key order and real wrapping. */
export type Tagged = [string, unknown];

export function float64Hex(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  let s = '';
  for (let i = 0; i < 8; i++) s += view.getUint8(i).toString(16).padStart(2, '0');
  return s;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function tag(v: PlistValue): Tagged {
  if (typeof v === 'string') return ['str', v];
  if (typeof v === 'boolean') return ['bool', v];
  if (typeof v === 'bigint') return ['int', v.toString()];
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) ? ['int', String(v)] : ['real', float64Hex(v)];
  if (v instanceof PlistReal) return ['real', float64Hex(v.value)];
  if (v instanceof PlistUid) return ['uid', String(v.value)];
  if (v instanceof Date) return ['date', String(v.getTime())];
  if (v instanceof Uint8Array) return ['data', toHex(v)];
  if (Array.isArray(v)) return ['array', v.map(tag)];
  const entries = Object.keys(v).map((k) => [k, tag(v[k]!)] as [string, Tagged]);
  return ['dict', sortEntries(entries)];
}

function sortEntries(entries: [string, Tagged][]): [string, Tagged][] {
  return entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Sorts dict entries of a tagged value produced elsewhere (Python), so comparison ignores order. */
export function normalizeTagged(t: Tagged): Tagged {
  const [kind, value] = t;
  if (kind === 'array') return ['array', (value as Tagged[]).map(normalizeTagged)];
  if (kind === 'dict') return ['dict', sortEntries((value as [string, Tagged][]).map(([k, v]) => [k, normalizeTagged(v)]))];
  return t;
}
