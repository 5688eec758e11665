/** The character codes of the 16 lowercase hex digits. */
export const HEX_CODES = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

let codes = new Uint16Array(64);

/**
 * `bytes[start, end)` as lowercase hex, built as one flat string. Appending digit pairs (`s += …`)
 * makes a rope of small strings instead: a 40-digit SHA-1 name held that way costs about 900 bytes,
 * and a phone that keeps 1.3M of them kept over a gigabyte.
 */
export function hexOf(bytes: Uint8Array, start = 0, end = bytes.byteLength): string {
  const length = 2 * (end - start);
  if (codes.length < length) codes = new Uint16Array(length);
  for (let i = start, o = 0; i < end; i++, o += 2) {
    const b = bytes[i]!;
    codes[o] = HEX_CODES[b >> 4]!;
    codes[o + 1] = HEX_CODES[b & 15]!;
  }
  // fromCharCode.apply takes its arguments on the stack: large inputs go in pieces.
  if (length <= 8192) return String.fromCharCode.apply(null, codes.subarray(0, length) as unknown as number[]);
  let out = '';
  for (let at = 0; at < length; at += 8192) out += String.fromCharCode.apply(null, codes.subarray(at, Math.min(length, at + 8192)) as unknown as number[]);
  return out;
}
