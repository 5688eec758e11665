import { hexOf } from '../core/hex.ts';

/**
 * A set of 40-hex-digit names (backup payload names: a SHA-1 fileID) kept as their 20 bytes in one
 * open-addressing table. A staging folder of a 1.3M-file backup holds 1.3M of them; as strings in
 * Maps they cost ≈125 bytes each of JS heap (≈160 MB, and V8 keeps headroom above that), here 21
 * bytes a slot at a load of 3/8 to 3/4 (28–56 bytes a name). SHA-1 names are uniformly spread, so
 * linear probing stays short at 3/4 full.
 */
export class HexNameSet {
  private keys = new Uint8Array(0);
  /** 0 empty, 1 used, 2 deleted (a tombstone, so probing continues past it). */
  private state = new Uint8Array(0);
  private used = 0;
  private filled = 0; // used + tombstones

  get size(): number {
    return this.used;
  }

  /** Whether `name` is exactly 40 lowercase hex digits, the only names this set holds. */
  static fits(name: string): boolean {
    return isHexName(name);
  }

  has(name: string): boolean {
    return this.state.length > 0 && keyInto(name, PROBE) && this.slotOfKey(PROBE) >= 0;
  }

  /** Adds `name`; false, changing nothing, when it does not fit (see fits), which this checks on the way. */
  add(name: string): boolean {
    if (!keyInto(name, PROBE)) return false;
    if (this.slotOfKey(PROBE) >= 0) return true;
    if ((this.filled + 1) * 4 > this.state.length * 3) this.resize(this.used + 1);
    const slots = this.state.length;
    for (let slot = hashOfKey(PROBE, 0) & (slots - 1); ; slot = (slot + 1) & (slots - 1)) {
      if (this.state[slot] === 1) continue;
      if (this.state[slot] === 0) this.filled++;
      this.state[slot] = 1;
      this.keys.set(PROBE, slot * 20);
      this.used++;
      return true;
    }
  }

  delete(name: string): boolean {
    if (this.state.length === 0 || !keyInto(name, PROBE)) return false;
    const slot = this.slotOfKey(PROBE);
    if (slot < 0) return false;
    this.state[slot] = 2;
    this.used--;
    return true;
  }

  *names(): Generator<string> {
    for (let slot = 0; slot < this.state.length; slot++) if (this.state[slot] === 1) yield readHex(this.keys, slot * 20);
  }

  /** The slot holding `key` (20 bytes), or -1. */
  private slotOfKey(key: Uint8Array): number {
    const slots = this.state.length;
    if (slots === 0) return -1;
    const keys = this.keys;
    for (let slot = hashOfKey(key, 0) & (slots - 1), probes = 0; probes < slots; slot = (slot + 1) & (slots - 1), probes++) {
      const s = this.state[slot];
      if (s === 0) return -1;
      if (s !== 1) continue;
      const at = slot * 20;
      let i = 0;
      while (i < 20 && keys[at + i] === key[i]) i++;
      if (i === 20) return slot;
    }
    return -1;
  }

  /** A table for `needed` names, at most half full: twice the size, or the same when tombstones filled it. */
  private resize(needed: number): void {
    let slots = 16;
    while (slots < needed * 2) slots *= 2;
    const oldKeys = this.keys;
    const oldState = this.state;
    this.keys = new Uint8Array(slots * 20);
    this.state = new Uint8Array(slots);
    this.filled = this.used;
    // Moved as bytes: rebuilding each name as a string made every doubling a burst of garbage.
    for (let from = 0; from < oldState.length; from++) {
      if (oldState[from] !== 1) continue;
      const at = from * 20;
      let slot = hashOfKey(oldKeys, at) & (slots - 1);
      while (this.state[slot] !== 0) slot = (slot + 1) & (slots - 1);
      this.state[slot] = 1;
      this.keys.set(oldKeys.subarray(at, at + 20), slot * 20);
    }
  }
}

/**
 * Where has/add/delete put the name they were given as its 20 bytes: one pass over the 40 digits
 * both checks and converts it (checking, hashing and comparing digit by digit read each one up to
 * three times per call, and a staging session makes several calls per file).
 */
const PROBE = new Uint8Array(20);

/** Writes the 20 bytes of a 40-lowercase-hex-digit `name` to `out`; false (out unspecified) for any other name. */
export function keyInto(name: string, out: Uint8Array): boolean {
  if (name.length !== 40) return false;
  for (let i = 0; i < 20; i++) {
    const hi = digit(name.charCodeAt(2 * i));
    const lo = digit(name.charCodeAt(2 * i + 1));
    if ((hi | lo) < 0) return false;
    out[i] = (hi << 4) | lo;
  }
  return true;
}

/** A lowercase hex digit's value, or -1. */
function digit(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
}

/** Whether `name` is exactly 40 lowercase hex digits (a payload name, a SHA-1 fileID). */
export function isHexName(name: string): boolean {
  if (name.length !== 40) return false;
  for (let i = 0; i < 40; i++) {
    const c = name.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** The hash of a name kept as its 20 bytes at `keys[at]`: its first 4 bytes, big-endian (a SHA-1 is already uniformly spread). */
export function hashOfKey(keys: Uint8Array, at: number): number {
  return ((keys[at]! << 24) | (keys[at + 1]! << 16) | (keys[at + 2]! << 8) | keys[at + 3]!) >>> 0;
}

/**
 * The 20 key bytes at `at` as 40 hex digits, one flat string (hexOf): appending digit pairs made a
 * rope of 20 pieces per name, which cost 6 s (and the serializer's flattening) over 1.3M names.
 */
export function readHex(keys: Uint8Array, at: number): string {
  return hexOf(keys, at, at + 20);
}
