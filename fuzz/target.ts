import { LifeboatError } from '../src/core/errors.ts';
import type { Rng } from './rng.ts';

/**
 * One parser of untrusted bytes under fuzz. `run` feeds it one input: it may accept the input or
 * reject it with the typed error the parser promises; anything else (a TypeError, RangeError, a
 * raw SQLite error, a hang over 1 s, a burst of memory) is a finding.
 */
export interface FuzzTarget {
  /** The name in fuzz-results.json and the folder under tests/fuzz/regressions/. */
  name: string;
  /** Valid inputs to mutate: fixtures, generated backups, encoder output. */
  seeds(): Promise<Uint8Array[]>;
  /** Structure-aware: a fresh input built from the format's grammar (lengths right, content random). */
  generate?(rng: Rng): Uint8Array;
  /**
   * Structure-aware repair after a byte mutation, e.g. recompute the length fields of the framing
   * so the mutated body reaches the inner parser instead of failing at the frame.
   */
  fixUp?(input: Uint8Array, rng: Rng): Uint8Array;
  /**
   * Parses one input. It may return a short description of what the parser made of an accepted
   * input (e.g. "3 frames applied"): a new one keeps the input for further mutation, like a new
   * rejection message does, which matters for parsers that never throw.
   */
  run(input: Uint8Array): void | string | Promise<void | string>;
  /** Whether `error` is an acceptable rejection; the default is any LifeboatError. */
  expected?(error: unknown): boolean;
  /** Inputs never grow beyond this (default 64 KiB). */
  maxInput?: number;
  /** Quick-mode executions when the parser is too slow for the default (stated in the results). */
  quickExecutions?: number;
}

export function isExpectedError(target: FuzzTarget, error: unknown): boolean {
  return target.expected ? target.expected(error) : error instanceof LifeboatError;
}

/** A size as its power of two, so an outcome description does not change with every byte. */
export function sizeClass(n: number): number {
  return n <= 0 ? 0 : Math.ceil(Math.log2(n + 1));
}

/** An error message with the parts that vary per input (numbers, quoted text) blanked. */
export function messageShape(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/"[^"]*"|“[^”]*”|'[^']*'/g, '…').replace(/0x[0-9a-f]+|\d+/gi, '#').slice(0, 80);
}

/** Big-endian u32 helpers the targets' framings share. */
export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n >>> 0);
  return out;
}

export function readU32be(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/**
 * Two inputs in one (e.g. a database and its WAL): a 4-byte big-endian length of the first part,
 * then both parts. A mutated length is clamped, so every byte string splits somewhere.
 */
export function joinParts(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + a.length + b.length);
  out.set(u32be(a.length));
  out.set(a, 4);
  out.set(b, 4 + a.length);
  return out;
}

export function splitParts(input: Uint8Array): [Uint8Array, Uint8Array] {
  if (input.length < 4) return [input, new Uint8Array(0)];
  const n = Math.min(readU32be(input, 0), input.length - 4);
  return [input.subarray(4, 4 + n), input.subarray(4 + n)];
}
