import { decodeBinaryPlist, isBinaryPlist } from './binary-decode.ts';
import { PlistError } from './errors.ts';
import type { DecodeOptions, PlistValue } from './types.ts';
import { decodeXmlPlist } from './xml-decode.ts';

/** Decodes a binary (`bplist00`) or XML property list, whichever the bytes are. */
export function decodePlist(bytes: Uint8Array, options: DecodeOptions = {}): PlistValue {
  if (isBinaryPlist(bytes)) return decodeBinaryPlist(bytes, options);
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  else if ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe)) {
    return decodeXmlPlist(bytes, options);
  }
  while (i < bytes.byteLength && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  if (bytes[i] === 0x3c) return decodeXmlPlist(bytes.subarray(i), options);
  if (i >= bytes.byteLength) throw new PlistError('the property list is empty');
  throw new PlistError('not a property list (neither bplist00 nor XML)');
}
