import { decodeBase64 } from './base64.ts';
import { setEntry } from './binary-decode.ts';
import { PlistError } from './errors.ts';
import { MAX_PLIST_DEPTH, PlistReal, PlistUid, type DecodeOptions, type PlistDict, type PlistValue } from './types.ts';

const utf8 = new TextDecoder('utf-8');
// Devices put raw control bytes in strings, which XML forbids; they become spaces before parsing.
const CONTROL = /[\x00-\x08\x0B\x0C\x0E-\x1F]/g;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z$/;

/** Decodes an XML property list (UTF-8, or UTF-16 with a byte-order mark). */
export function decodeXmlPlist(bytes: Uint8Array, options: DecodeOptions = {}): PlistValue {
  let text: string;
  if (bytes[0] === 0xfe && bytes[1] === 0xff) text = new TextDecoder('utf-16be').decode(bytes.subarray(2));
  else if (bytes[0] === 0xff && bytes[1] === 0xfe) text = new TextDecoder('utf-16le').decode(bytes.subarray(2));
  else text = utf8.decode(bytes);
  return decodeXmlPlistText(text, options);
}

export function decodeXmlPlistText(text: string, options: DecodeOptions = {}): PlistValue {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text = text.replace(CONTROL, ' ');
  if (text.indexOf('\r') !== -1) text = text.replace(/\r\n?/g, '\n');
  return new XmlPlistParser(text, options.reals === 'wrap').document();
}

interface Tag {
  name: string;
  selfClosing: boolean;
}

class XmlPlistParser {
  private pos = 0;

  constructor(
    private readonly src: string,
    private readonly wrapReals: boolean,
  ) {}

  document(): PlistValue {
    this.skipMisc();
    const tag = this.openTag();
    let value: PlistValue;
    if (tag.name === 'plist') {
      if (tag.selfClosing) throw new PlistError('empty <plist> element');
      this.skipMisc();
      value = this.value(this.openTag(), 0);
      this.skipMisc();
      this.closeTag('plist');
    } else {
      value = this.value(tag, 0);
    }
    this.skipMisc();
    if (this.pos < this.src.length) throw new PlistError('unexpected content after the property list');
    return value;
  }

  private fail(message: string): never {
    throw new PlistError(`${message} (XML offset ${this.pos})`);
  }

  /** Skips whitespace, comments, processing instructions and the DOCTYPE. */
  private skipMisc(): void {
    const s = this.src;
    for (;;) {
      let c = s.charCodeAt(this.pos);
      while (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) c = s.charCodeAt(++this.pos);
      if (c !== 0x3c) return;
      const next = s.charCodeAt(this.pos + 1);
      if (next === 0x3f) {
        this.skipPast('?>');
      } else if (next === 0x21) {
        if (s.startsWith('<!--', this.pos)) this.skipPast('-->');
        else if (s.startsWith('<!DOCTYPE', this.pos)) this.skipDoctype();
        else return;
      } else {
        return;
      }
    }
  }

  private skipPast(end: string): void {
    const i = this.src.indexOf(end, this.pos);
    if (i < 0) this.fail(`unterminated markup, expected "${end}"`);
    this.pos = i + end.length;
  }

  private skipDoctype(): void {
    // An internal subset in brackets may contain '>', so track it.
    const s = this.src;
    let inSubset = false;
    for (let i = this.pos + 9; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x5b) inSubset = true;
      else if (c === 0x5d) inSubset = false;
      else if (c === 0x3e && !inSubset) {
        this.pos = i + 1;
        return;
      }
    }
    this.fail('unterminated DOCTYPE');
  }

  private openTag(): Tag {
    const s = this.src;
    if (s.charCodeAt(this.pos) !== 0x3c) this.fail('expected an element');
    let i = this.pos + 1;
    const nameStart = i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (Number.isNaN(c)) this.fail('unterminated element');
      if (c === 0x3e || c === 0x2f || c === 0x20 || c === 0x0a || c === 0x09) break;
      i++;
    }
    const name = s.slice(nameStart, i);
    if (name.length === 0 || name.charCodeAt(0) === 0x2f) this.fail(`unexpected closing tag`);
    // Attributes (only <plist version>) are skipped; quoted values may contain '>'.
    let quote = 0;
    for (;;) {
      const c = s.charCodeAt(i);
      if (Number.isNaN(c)) this.fail('unterminated element');
      if (quote !== 0) {
        if (c === quote) quote = 0;
      } else if (c === 0x22 || c === 0x27) {
        quote = c;
      } else if (c === 0x3e) {
        break;
      }
      i++;
    }
    const selfClosing = s.charCodeAt(i - 1) === 0x2f;
    this.pos = i + 1;
    return { name, selfClosing };
  }

  private closeTag(name: string): void {
    const s = this.src;
    if (!s.startsWith('</', this.pos) || !s.startsWith(name, this.pos + 2)) this.fail(`expected </${name}>`);
    let i = this.pos + 2 + name.length;
    let c = s.charCodeAt(i);
    while (c === 0x20 || c === 0x0a || c === 0x09) c = s.charCodeAt(++i);
    if (c !== 0x3e) this.fail(`expected </${name}>`);
    this.pos = i + 1;
  }

  /** Character content up to the closing tag, with entities, CDATA and comments handled. */
  private text(tag: Tag): string {
    if (tag.selfClosing) return '';
    const s = this.src;
    let out = '';
    for (;;) {
      const lt = s.indexOf('<', this.pos);
      if (lt < 0) this.fail(`unterminated <${tag.name}>`);
      out += decodeEntities(s, this.pos, lt);
      this.pos = lt;
      if (s.startsWith('<![CDATA[', lt)) {
        const end = s.indexOf(']]>', lt + 9);
        if (end < 0) this.fail('unterminated CDATA section');
        out += s.slice(lt + 9, end);
        this.pos = end + 3;
      } else if (s.startsWith('<!--', lt)) {
        this.skipPast('-->');
      } else {
        this.closeTag(tag.name);
        return detached(out);
      }
    }
  }

  private value(tag: Tag, depth: number): PlistValue {
    switch (tag.name) {
      case 'string':
        return this.text(tag);
      case 'integer':
        return this.integer(this.text(tag).trim());
      case 'real': {
        const v = parseReal(this.text(tag).trim());
        if (v === undefined) this.fail('invalid <real>');
        return this.wrapReals ? new PlistReal(v) : v;
      }
      case 'true':
      case 'false':
        if (!tag.selfClosing) this.closeTag(tag.name);
        return tag.name === 'true';
      case 'date': {
        const m = DATE.exec(this.text(tag).trim());
        if (!m) this.fail('invalid <date>');
        const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
        const d = new Date(ms + (m[7] ? Math.round(parseFloat(m[7]) * 1000) : 0));
        // Date.UTC maps years 0–99 to the 1900s.
        if (+m[1]! < 100) d.setUTCFullYear(+m[1]!);
        return d;
      }
      case 'data': {
        if (tag.selfClosing) return new Uint8Array(0);
        const s = this.src;
        const lt = s.indexOf('<', this.pos);
        if (lt < 0) this.fail('unterminated <data>');
        const bytes = decodeBase64(s, this.pos, lt);
        this.pos = lt;
        this.closeTag('data');
        return bytes;
      }
      case 'array':
        return this.array(tag, depth);
      case 'dict':
        return this.dict(tag, depth);
      case 'key':
        this.fail('<key> outside a <dict>');
      default:
        this.fail(`unknown element <${tag.name}>`);
    }
  }

  private checkDepth(depth: number): void {
    if (depth >= MAX_PLIST_DEPTH) this.fail(`nesting deeper than ${MAX_PLIST_DEPTH} levels`);
  }

  private array(tag: Tag, depth: number): PlistValue[] {
    const out: PlistValue[] = [];
    if (tag.selfClosing) return out;
    this.checkDepth(depth);
    for (;;) {
      this.skipMisc();
      if (this.src.startsWith('</', this.pos)) {
        this.closeTag('array');
        return out;
      }
      out.push(this.value(this.openTag(), depth + 1));
    }
  }

  private dict(tag: Tag, depth: number): PlistValue {
    const out: PlistDict = {};
    if (tag.selfClosing) return out;
    this.checkDepth(depth);
    let count = 0;
    for (;;) {
      this.skipMisc();
      if (this.src.startsWith('</', this.pos)) {
        this.closeTag('dict');
        break;
      }
      const keyTag = this.openTag();
      if (keyTag.name !== 'key') this.fail(`expected <key> in <dict>, found <${keyTag.name}>`);
      const key = this.text(keyTag);
      this.skipMisc();
      if (this.src.startsWith('</', this.pos)) this.fail(`<key>${key.slice(0, 40)}</key> has no value`);
      setEntry(out, key, this.value(this.openTag(), depth + 1));
      count++;
    }
    // NSKeyedArchiver references are written as {CF$UID: n} in XML.
    if (count === 1) {
      const uid = out['CF$UID'];
      if (typeof uid === 'number' && Number.isInteger(uid) && uid >= 0 && uid <= 0xffffffff) return new PlistUid(uid);
    }
    return out;
  }

  private integer(text: string): number | bigint {
    let v: bigint;
    try {
      if (/^[+-]?\d+$/.test(text)) {
        if (text.length <= 15) return Number(text) + 0; // + 0 turns "-0" into 0
        v = BigInt(text);
      } else if (/^[+-]?0[xX][0-9a-fA-F]+$/.test(text)) {
        const negative = text.startsWith('-');
        const hex = BigInt(text.replace(/^[+-]/, ''));
        v = negative ? -hex : hex;
      } else {
        this.fail(`invalid <integer> "${text.slice(0, 40)}"`);
      }
    } catch (error) {
      if (error instanceof PlistError) throw error;
      this.fail(`invalid <integer> "${text.slice(0, 40)}"`);
    }
    return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
  }
}

function parseReal(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === 'nan' || lower === '+nan' || lower === '-nan') return NaN;
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity' || lower === '+infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/**
 * The same text, no longer a slice of the document. V8 makes a substring of 13 characters or more a
 * view of its parent, so one device value kept from a restore's Info.plist kept the whole XML text
 * alive (16 MB at huge scale 0.6, twice: two readers held a value each) for as long as the restore
 * ran. A string built from a concatenation is flattened into new memory before it is sliced.
 */
function detached(text: string): string {
  return text.length < 13 ? text : (' ' + text).slice(1);
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string, start: number, end: number): string {
  const piece = s.slice(start, end);
  // Searching the slice, not the document, keeps this linear when there are no entities.
  if (piece.indexOf('&') < 0) return piece;
  return piece.replace(/&([^;&<]{0,12});?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw new PlistError(`invalid entity "${whole.slice(0, 16)}"`);
    const named = NAMED[name];
    if (named !== undefined) return named;
    let code = NaN;
    if (/^#x[0-9a-fA-F]{1,6}$/.test(name)) code = parseInt(name.slice(2), 16);
    else if (/^#[0-9]{1,7}$/.test(name)) code = parseInt(name.slice(1), 10);
    if (!(code >= 0 && code <= 0x10ffff)) throw new PlistError(`invalid entity "${whole.slice(0, 16)}"`);
    return String.fromCodePoint(code);
  });
}
