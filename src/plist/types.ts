/**
 * The value model shared by every plist codec. Integers decode to `number` while exact
 * (|n| ≤ 2^53−1) and to `bigint` beyond; reals decode to `number` unless the caller asks
 * for PlistReal wrappers, so whole-number reals such as 2.0 survive a round trip.
 */
export type PlistValue =
  | string
  | number
  | bigint
  | boolean
  | Date
  | Uint8Array
  | PlistUid
  | PlistReal
  | PlistValue[]
  | PlistDict;

export interface PlistDict {
  [key: string]: PlistValue;
}

/** An NSKeyedArchiver object reference (binary marker 0x80, XML `{CF$UID: n}`). */
export class PlistUid {
  constructor(readonly value: number) {}
}

/** Forces a `<real>` even when the number is whole (2.0 would otherwise encode as an integer). */
export class PlistReal {
  constructor(readonly value: number) {}
}

export interface DecodeOptions {
  /** 'number' (default) decodes reals to plain numbers; 'wrap' to PlistReal for exact round trips. */
  reals?: 'number' | 'wrap';
}

/** Seconds between the Unix epoch and Apple's reference date 2001-01-01T00:00:00Z. */
export const APPLE_EPOCH_OFFSET_SECONDS = 978307200;

/** Deepest container nesting accepted when decoding or encoding; beyond it input is treated as hostile. */
export const MAX_PLIST_DEPTH = 512;

export function isPlistDict(value: unknown): value is PlistDict {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value) || value instanceof Uint8Array || value instanceof Date) return false;
  if (value instanceof PlistUid || value instanceof PlistReal) return false;
  return true;
}
