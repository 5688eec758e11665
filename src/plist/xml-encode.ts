import { encodeBase64 } from './base64.ts';
import { PlistError } from './errors.ts';
import { MAX_PLIST_DEPTH, PlistReal, PlistUid, type PlistDict, type PlistValue } from './types.ts';

const HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
  '<plist version="1.0">\n';
const utf8 = new TextEncoder();
const NEEDS_ESCAPE = /[&<>\r]/;

/** Encodes a value as an Apple XML property list (UTF-8, tab-indented like CoreFoundation). */
export function encodeXmlPlist(value: PlistValue): Uint8Array {
  return utf8.encode(encodeXmlPlistText(value));
}

export function encodeXmlPlistText(value: PlistValue): string {
  const parts: string[] = [HEADER];
  writeValue(parts, value, 0, new Set());
  parts.push('</plist>\n');
  return parts.join('');
}

function escapeText(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  // A literal CR would be normalised to LF by any XML parser, so it is written as a reference.
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

function formatReal(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return '+infinity';
  if (v === -Infinity) return '-infinity';
  if (Object.is(v, -0)) return '-0.0';
  return Number.isInteger(v) && Math.abs(v) < 1e21 ? `${v}.0` : String(v);
}

function formatDate(d: Date): string {
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new PlistError('cannot encode an invalid Date');
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function writeValue(parts: string[], v: PlistValue, depth: number, active: Set<object>): void {
  const indent = '\t'.repeat(depth);
  if (typeof v === 'string') {
    parts.push(indent, '<string>', escapeText(v), '</string>\n');
  } else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) parts.push(indent, '<integer>', String(v), '</integer>\n');
    else parts.push(indent, '<real>', formatReal(v), '</real>\n');
  } else if (typeof v === 'bigint') {
    parts.push(indent, '<integer>', v.toString(), '</integer>\n');
  } else if (typeof v === 'boolean') {
    parts.push(indent, v ? '<true/>\n' : '<false/>\n');
  } else if (v instanceof PlistReal) {
    parts.push(indent, '<real>', formatReal(v.value), '</real>\n');
  } else if (v instanceof Date) {
    parts.push(indent, '<date>', formatDate(v), '</date>\n');
  } else if (v instanceof Uint8Array) {
    parts.push(indent, '<data>', encodeBase64(v), '</data>\n');
  } else if (v instanceof PlistUid) {
    if (!Number.isInteger(v.value) || v.value < 0 || v.value > 0xffffffff) throw new PlistError(`UID ${v.value} is out of range`);
    parts.push(indent, '<dict>\n', indent, '\t<key>CF$UID</key>\n', indent, '\t<integer>', String(v.value), '</integer>\n', indent, '</dict>\n');
  } else if (v !== null && typeof v === 'object') {
    if (depth > MAX_PLIST_DEPTH) throw new PlistError(`nesting deeper than ${MAX_PLIST_DEPTH} levels`);
    if (active.has(v)) throw new PlistError('cannot encode a value that contains itself');
    active.add(v);
    if (Array.isArray(v)) {
      if (v.length === 0) {
        parts.push(indent, '<array/>\n');
      } else {
        parts.push(indent, '<array>\n');
        for (const item of v) writeValue(parts, item, depth + 1, active);
        parts.push(indent, '</array>\n');
      }
    } else {
      const dict = v as PlistDict;
      const keys = Object.keys(dict).filter((k) => dict[k] !== undefined);
      if (keys.length === 0) {
        parts.push(indent, '<dict/>\n');
      } else {
        parts.push(indent, '<dict>\n');
        for (const key of keys) {
          parts.push(indent, '\t<key>', escapeText(key), '</key>\n');
          writeValue(parts, dict[key]!, depth + 1, active);
        }
        parts.push(indent, '</dict>\n');
      }
    }
    active.delete(v);
  } else {
    throw new PlistError(`cannot encode a value of type ${v === null ? 'null' : typeof v}`);
  }
}
