import { CorruptBackupError } from '../../core/errors.ts';

/** A column value as SQLite stores it. Integers beyond ±2^53 stay exact as bigint. */
export type SqlValue = null | number | bigint | string | Uint8Array;

/**
 * The byte after the last varint read (a module variable rather than a returned pair: a
 * million-row scan reads ten million varints and should not allocate for each).
 */
export let varintEnd = 0;

/**
 * An SQLite varint (1–9 bytes, big-endian, 7 bits a byte and all 8 in the ninth) at `at`, not
 * reading at or past `end`. Values above 2^53 lose precision; callers use them only as sizes and
 * row ids, and bound the sizes themselves.
 */
export function readVarint(bytes: Uint8Array, at: number, end: number, what: string): number {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    if (at + i >= end) throw new CorruptBackupError(`${what} is damaged: a number runs past the end of its page.`);
    const b = bytes[at + i]!;
    if (i === 8) {
      value = value * 256 + b;
      varintEnd = at + 9;
      return value;
    }
    value = value * 128 + (b & 0x7f);
    if (b < 0x80) {
      varintEnd = at + i + 1;
      return value;
    }
  }
  /* c8 ignore next */
  throw new Error('unreachable');
}

/** Bytes a value of serial type `t` takes in the record body. */
function sizeOfSerialType(t: number): number {
  if (t >= 12) return Math.floor((t - 12) / 2);
  return [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, -1, -1][t]!;
}

function readInt(p: Uint8Array, at: number, n: number): number | bigint {
  if (n === 8) {
    const v = new DataView(p.buffer, p.byteOffset + at, 8).getBigInt64(0);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + p[at + i]!;
  if (p[at]! & 0x80) v -= 2 ** (8 * n); // two's complement of n bytes (n ≤ 6: exact in a double)
  return v;
}

/**
 * Decodes a record (the payload of a table row): a header of serial types, then the values.
 * Columns past the record's end read as NULL, as SQLite does for rows written before an
 * `ALTER TABLE … ADD COLUMN`. Blobs are copies, or views of `p` when `blobViews` (for a caller done
 * with each row before `p`'s memory could change).
 */
export function decodeRecord(p: Uint8Array, text: TextDecoder, columns: number, what: string, blobViews = false): SqlValue[] {
  const headerSize = readVarint(p, 0, p.length, what);
  if (headerSize > p.length || headerSize < varintEnd) throw new CorruptBackupError(`${what} is damaged: a row's header is larger than the row.`);
  const values: SqlValue[] = [];
  let h = varintEnd;
  let body = headerSize;
  while (h < headerSize && values.length < columns) {
    const t = readVarint(p, h, headerSize, what);
    h = varintEnd;
    const n = sizeOfSerialType(t);
    if (n < 0) throw new CorruptBackupError(`${what} is damaged: a row uses a reserved value type (${t}).`);
    if (body + n > p.length) throw new CorruptBackupError(`${what} is damaged: a value runs past the end of its row.`);
    let value: SqlValue;
    if (t === 0) value = null;
    else if (t <= 6) value = readInt(p, body, n);
    else if (t === 7) value = new DataView(p.buffer, p.byteOffset + body, 8).getFloat64(0);
    else if (t === 8) value = 0;
    else if (t === 9) value = 1;
    else if (t % 2 === 0) value = blobViews ? p.subarray(body, body + n) : p.slice(body, body + n);
    else value = text.decode(p.subarray(body, body + n));
    values.push(value);
    body += n;
  }
  while (values.length < columns) values.push(null);
  return values;
}
