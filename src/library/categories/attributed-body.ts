/**
 * The plain text of a Messages `attributedBody` (sms.db, iOS 16+ often leaves `message.text` NULL).
 *
 * The blob is an NSAttributedString archived by NSArchiver in NeXTSTEP "typedstream" form:
 *
 *   04 0B "streamtyped"            streamer version 4, signature (little-endian; "typedstream" = big)
 *   <int> system version           1000 on every Apple OS since Mac OS X
 *   "@" object: NSMutableAttributedString → NSAttributedString → NSObject → nil (class chain)
 *     "@" object: NSMutableString/NSString v1 …, then the value group "+": <int length> <UTF-8 bytes>
 *     0x86 (end of the string object), then the attribute runs, which are not needed for the text.
 *
 * Heads are signed bytes: 0x84 new, 0x85 nil, 0x86 end of object, 0x81/0x82 a 2/4-byte integer
 * follows, other values in 0x80…0x91 are reserved; any other byte is a literal integer or, where a
 * string, class or object is expected, a reference (value − 0x92 signed, indexing what was read
 * before). Strings (class names, type encodings) and objects/classes are numbered in two separate
 * tables. Learnt from dgelessus/python-typedstream (stream.py, types/foundation.py) and checked against
 * the attributedBody samples in ReagentX/imessage-exporter's test data.
 *
 * Strict and bounded: only this shape is accepted, every length is checked against the blob, the
 * tables and class chains are capped, and nothing is allocated but the result. Anything else gives
 * null, never an exception: one odd message must not break its conversation.
 */

const TAG_INT16 = -127; // 0x81
const TAG_INT32 = -126; // 0x82
const TAG_NEW = -124; // 0x84
const TAG_NIL = -123; // 0x85
const TAG_END_OF_OBJECT = -122; // 0x86
const FIRST_TAG = -128;
const LAST_TAG = -111;
/** Reference numbers start right after the tags: head 0x92 is entry 0. */
const FIRST_REFERENCE = LAST_TAG + 1;

/** Far above anything an attributed string uses (a dozen strings, a few classes). */
const MAX_TABLE_ENTRIES = 4096;
const MAX_CLASS_CHAIN = 16;

/** Thrown inside the reader only; attributedBodyText turns it into null. */
class Malformed extends Error {}

const ASCII = new TextDecoder('latin1');
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class TypedStreamCursor {
  private at = 0;
  private readonly view: DataView;
  private littleEndian = true;
  /** Shared strings (class names, type encodings) in the order they first appeared. */
  private readonly strings: Uint8Array[] = [];
  /** Objects and classes in the order they first appeared: a class name, or null for an object. */
  private readonly objects: (string | null)[] = [];

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  header(): void {
    if (this.unsignedByte() !== 4 || this.unsignedByte() !== 11) throw new Malformed();
    const signature = ASCII.decode(this.take(11));
    if (signature === 'typedstream') this.littleEndian = false;
    else if (signature !== 'streamtyped') throw new Malformed();
    this.integer(this.head()); // system version: any value is fine
  }

  /** The encodings of the next group of typed values ("@", "+", "iI"…). */
  typeEncoding(): string {
    const encoding = this.sharedString(this.head());
    if (encoding === null) throw new Malformed();
    return ASCII.decode(encoding);
  }

  /** A literally stored object's class chain, most derived first (e.g. NSMutableString, NSString). */
  newObjectClasses(): string[] {
    if (this.head() !== TAG_NEW) throw new Malformed();
    this.remember(this.objects, null);
    const chain: string[] = [];
    let head = this.head();
    while (head === TAG_NEW) {
      if (chain.length === MAX_CLASS_CHAIN) throw new Malformed();
      const name = this.sharedString(this.head());
      if (name === null) throw new Malformed();
      const className = ASCII.decode(name);
      this.integer(this.head()); // class version
      this.remember(this.objects, className);
      chain.push(className);
      head = this.head();
    }
    if (head !== TAG_NIL) {
      // The rest of the chain was stored before: a reference to that class.
      const referenced = this.objects[this.reference(head)];
      if (typeof referenced !== 'string') throw new Malformed();
      chain.push(referenced);
    }
    return chain;
  }

  /** An unshared string's bytes ("+" values): a length, then that many bytes. */
  unsharedBytes(): Uint8Array {
    const head = this.head();
    if (head === TAG_NIL) throw new Malformed();
    return this.take(this.integer(head));
  }

  endOfObject(): void {
    if (this.head() !== TAG_END_OF_OBJECT) throw new Malformed();
  }

  private sharedString(head: number): Uint8Array | null {
    if (head === TAG_NIL) return null;
    if (head === TAG_NEW) {
      const bytes = this.unsharedBytes();
      this.remember(this.strings, bytes);
      return bytes;
    }
    const bytes = this.strings[this.reference(head)];
    if (!bytes) throw new Malformed();
    return bytes;
  }

  private remember<T>(table: T[], entry: T): void {
    if (table.length === MAX_TABLE_ENTRIES) throw new Malformed();
    table.push(entry);
  }

  private reference(head: number): number {
    if (head >= FIRST_TAG && head <= LAST_TAG && head !== TAG_INT16 && head !== TAG_INT32) throw new Malformed();
    return this.signedInteger(head) - FIRST_REFERENCE;
  }

  /** An unsigned integer: a literal head byte, or 0x81/0x82 and 2/4 bytes in the stream's order. */
  private integer(head: number): number {
    if (head === TAG_INT16) return this.view.getUint16(this.advance(2), this.littleEndian);
    if (head === TAG_INT32) return this.view.getUint32(this.advance(4), this.littleEndian);
    if (head >= FIRST_TAG && head <= LAST_TAG) throw new Malformed();
    return head & 0xff;
  }

  private signedInteger(head: number): number {
    if (head === TAG_INT16) return this.view.getInt16(this.advance(2), this.littleEndian);
    if (head === TAG_INT32) return this.view.getInt32(this.advance(4), this.littleEndian);
    return head;
  }

  private head(): number {
    return this.view.getInt8(this.advance(1));
  }

  private unsignedByte(): number {
    return this.bytes[this.advance(1)]!;
  }

  private take(length: number): Uint8Array {
    const start = this.advance(length);
    return this.bytes.subarray(start, start + length);
  }

  /** Moves past `length` bytes and returns where they start; past the end is malformed. */
  private advance(length: number): number {
    const start = this.at;
    if (length > this.bytes.length - start) throw new Malformed();
    this.at = start + length;
    return start;
  }
}

function isAttributedString(chain: string[]): boolean {
  return chain.some((name) => name === 'NSAttributedString' || name === 'NSMutableAttributedString');
}

function isString(chain: string[]): boolean {
  return chain.some((name) => name === 'NSString' || name === 'NSMutableString');
}

/**
 * The text of an archived NSAttributedString, or null when `blob` is not one (absent, truncated,
 * another class, invalid UTF-8…). An archived empty string gives "".
 */
export function attributedBodyText(blob: Uint8Array | null | undefined): string | null {
  if (!(blob instanceof Uint8Array) || blob.length < 16) return null;
  try {
    const stream = new TypedStreamCursor(blob);
    stream.header();
    if (stream.typeEncoding() !== '@' || !isAttributedString(stream.newObjectClasses())) return null;
    if (stream.typeEncoding() !== '@' || !isString(stream.newObjectClasses())) return null;
    if (stream.typeEncoding() !== '+') return null;
    const utf8 = stream.unsharedBytes();
    stream.endOfObject();
    return utf8Text(utf8);
  } catch (error) {
    if (error instanceof Malformed) return null;
    throw error;
  }
}

function utf8Text(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null; // not UTF-8 (the decoder is fatal)
  }
}
