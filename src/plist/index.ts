/**
 * Property lists: the value model, binary (`bplist00`) and XML codecs, length-prefixed plist
 * framing for lockdown and services, and NSKeyedArchiver helpers.
 */
export {
  PlistUid,
  PlistReal,
  isPlistDict,
  APPLE_EPOCH_OFFSET_SECONDS,
  MAX_PLIST_DEPTH,
  type PlistValue,
  type PlistDict,
  type DecodeOptions,
} from './types.ts';
export { PlistError } from './errors.ts';
export { decodePlist } from './decode.ts';
export { decodeBinaryPlist, isBinaryPlist } from './binary-decode.ts';
export { encodeBinaryPlist } from './binary-encode.ts';
export { decodeXmlPlist, decodeXmlPlistText } from './xml-decode.ts';
export { encodeXmlPlist, encodeXmlPlistText } from './xml-encode.ts';
export { PlistConnection, MAX_PLIST_MESSAGE_BYTES } from './plist-connection.ts';
export { archive, unarchive, type KeyedObject, type ArchivableObject, type ArchiveOptions } from './keyed-archiver.ts';
