import type { Rng } from './rng.ts';

/**
 * Byte-level mutations of a seed (AFL/libFuzzer style): bit flips, random and "interesting" bytes,
 * interesting integers written over what are often length or offset fields (8/16/32/64-bit, both
 * byte orders), insertions, deletions, duplication of a range, truncation, and splicing with
 * another corpus entry. Several are stacked per execution.
 */

const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40, 0x0f, 0xf0];
const INTERESTING_32 = [
  0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127, 128, 255, 256, 512, 1000, 1024, 4096, 16384, 16385, 32767, 32768, 65535,
  65536, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x00ffffff, 0x01000000,
];

export type Mutation = (input: Uint8Array, rng: Rng, other: Uint8Array | undefined, maxSize: number) => Uint8Array;

function atOffset(input: Uint8Array, rng: Rng, width: number): number {
  return rng.below(Math.max(1, input.length - width + 1));
}

const flipBit: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  const i = rng.below(input.length);
  input[i]! ^= 1 << rng.below(8);
  return input;
};

const randomByte: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  input[rng.below(input.length)] = rng.u32() & 0xff;
  return input;
};

const interestingByte: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  input[rng.below(input.length)] = rng.pick(INTERESTING_8);
  return input;
};

const addSubtract: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  const i = rng.below(input.length);
  input[i] = (input[i]! + rng.between(-16, 16)) & 0xff;
  return input;
};

/** A number that is "interesting" for this input: classic edge values and values near its own length. */
function interestingValue(input: Uint8Array, rng: Rng): number {
  if (rng.chance(0.25)) return Math.max(0, input.length + rng.between(-8, 8));
  return rng.pick(INTERESTING_32);
}

const interestingInteger: Mutation = (input, rng) => {
  const width = rng.pick([2, 4, 8]);
  if (input.length < width) return input;
  const at = atOffset(input, rng, width);
  const value = interestingValue(input, rng);
  const bigEndian = rng.chance(0.5);
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  if (width === 8) view.setBigUint64(0, rng.chance(0.2) ? 0xffffffffffffffffn : BigInt(value), !bigEndian);
  else if (width === 4) view.setUint32(0, value >>> 0, !bigEndian);
  else view.setUint16(0, value & 0xffff, !bigEndian);
  input.set(bytes.subarray(0, width), at);
  return input;
};

const insertBytes: Mutation = (input, rng, _other, maxSize) => {
  const n = Math.min(rng.size(64) + 1, Math.max(0, maxSize - input.length));
  if (n === 0) return input;
  const at = rng.below(input.length + 1);
  const fill = rng.chance(0.5) ? rng.bytes(n) : new Uint8Array(n).fill(rng.pick(INTERESTING_8));
  const out = new Uint8Array(input.length + n);
  out.set(input.subarray(0, at));
  out.set(fill, at);
  out.set(input.subarray(at), at + n);
  return out;
};

const deleteBytes: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  const at = rng.below(input.length);
  const n = Math.min(input.length - at, rng.size(64) + 1);
  const out = new Uint8Array(input.length - n);
  out.set(input.subarray(0, at));
  out.set(input.subarray(at + n), at);
  return out;
};

const duplicateRange: Mutation = (input, rng, _other, maxSize) => {
  if (input.length === 0) return input;
  const from = rng.below(input.length);
  const n = Math.min(input.length - from, rng.size(256) + 1, Math.max(0, maxSize - input.length));
  if (n === 0) return input;
  const at = rng.below(input.length + 1);
  const out = new Uint8Array(input.length + n);
  out.set(input.subarray(0, at));
  out.set(input.subarray(from, from + n), at);
  out.set(input.subarray(at), at + n);
  return out;
};

const copyWithin: Mutation = (input, rng) => {
  if (input.length < 2) return input;
  const from = rng.below(input.length);
  const to = rng.below(input.length);
  const n = Math.min(rng.size(64) + 1, input.length - from, input.length - to);
  input.copyWithin(to, from, from + n);
  return input;
};

const truncate: Mutation = (input, rng) => {
  if (input.length === 0) return input;
  return input.slice(0, rng.below(input.length));
};

const splice: Mutation = (input, rng, other, maxSize) => {
  if (!other || other.length === 0) return input;
  const cut = rng.below(input.length + 1);
  const from = rng.below(other.length);
  const tail = other.subarray(from, from + Math.max(0, maxSize - cut));
  const out = new Uint8Array(cut + tail.length);
  out.set(input.subarray(0, cut));
  out.set(tail, cut);
  return out;
};

const MUTATIONS: readonly Mutation[] = [
  flipBit,
  flipBit,
  randomByte,
  interestingByte,
  addSubtract,
  interestingInteger,
  interestingInteger,
  interestingInteger,
  insertBytes,
  deleteBytes,
  duplicateRange,
  copyWithin,
  truncate,
  splice,
];

/** A mutated copy of `input` (1–8 stacked mutations, fewer more often). */
export function mutate(input: Uint8Array, rng: Rng, other: Uint8Array | undefined, maxSize: number): Uint8Array {
  let out: Uint8Array = input.slice(0, maxSize);
  const rounds = 1 + rng.size(7);
  for (let i = 0; i < rounds; i++) out = rng.pick(MUTATIONS)(out, rng, other, maxSize);
  return out;
}
