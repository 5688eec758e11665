/**
 * `message.attributedBody` as Messages on iOS 16+ writes it: an NSMutableAttributedString archived by
 * NSArchiver ("streamtyped" typedstream, little-endian), holding the text and one attribute run
 * { __kIMMessagePartAttributeName: 0 } over all of it. A writer of its own (the library has the
 * reader): the simulated phone must not share code with what it is used to test.
 *
 * typedstream in brief: integers in -110…127 are one byte, others 0x81 + int16 or 0x82 + int32;
 * 0x84 starts a new string/object/class, 0x85 is nil, 0x86 ends an object; a string or class seen
 * before is written as a back-reference (its index + 0x92). Strings and objects/classes are counted
 * in two separate tables.
 */

const NEW = 0x84;
const NIL = 0x85;
const END_OF_OBJECT = 0x86;
/** Index 0 of either table is written as the signed byte -110 (0x92). */
const FIRST_REFERENCE = -110;

class TypedStreamWriter {
  private readonly out: number[] = [];
  private readonly strings = new Map<string, number>();
  private readonly classes = new Map<string, number>();
  private objects = 0;

  constructor() {
    this.out.push(4, 11, ...new TextEncoder().encode('streamtyped'));
    this.integer(1000); // system version, as every Apple OS writes it
  }

  integer(value: number): void {
    if (value >= -110 && value <= 127) this.out.push(value & 0xff);
    else if (value >= -0x8000 && value <= 0x7fff) this.out.push(0x81, value & 0xff, (value >> 8) & 0xff);
    else this.out.push(0x82, value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
  }

  /** The type encodings of the next group of values ("@", "+", "iI"). */
  types(encoding: string): void {
    this.sharedString(encoding);
  }

  /** A new object of the first class in `chain` (most derived first, each with its class version). */
  beginObject(chain: [name: string, version: number][]): void {
    this.out.push(NEW);
    this.objects++;
    for (const [name, version] of chain) {
      const known = this.classes.get(name);
      if (known !== undefined) {
        this.reference(known);
        return;
      }
      this.out.push(NEW);
      this.sharedString(name);
      this.integer(version);
      this.classes.set(name, this.objects++);
    }
    this.out.push(NIL);
  }

  endObject(): void {
    this.out.push(END_OF_OBJECT);
  }

  /** A "+" value: length-prefixed bytes. */
  bytes(data: Uint8Array): void {
    this.integer(data.length);
    for (const byte of data) this.out.push(byte);
  }

  /** A "*" value (C string): new, then a shared string. */
  cString(value: string): void {
    this.out.push(NEW);
    this.sharedString(value);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.out);
  }

  private sharedString(value: string): void {
    const known = this.strings.get(value);
    if (known !== undefined) {
      this.reference(known);
      return;
    }
    this.out.push(NEW);
    this.bytes(new TextEncoder().encode(value));
    this.strings.set(value, this.strings.size);
  }

  private reference(index: number): void {
    this.integer(index + FIRST_REFERENCE);
  }
}

const OBJECT: [string, number] = ['NSObject', 0];

/** The attributedBody blob Messages stores for `text`. */
export function encodeAttributedBody(text: string): Uint8Array {
  const w = new TypedStreamWriter();
  w.types('@');
  w.beginObject([['NSMutableAttributedString', 0], ['NSAttributedString', 0], OBJECT]);

  w.types('@');
  w.beginObject([['NSMutableString', 1], ['NSString', 1], OBJECT]);
  w.types('+');
  w.bytes(new TextEncoder().encode(text));
  w.endObject();

  // One attribute run: (run number 1, length in UTF-16 units), then its attributes dictionary.
  w.types('iI');
  w.integer(1);
  w.integer(text.length);
  w.types('@');
  w.beginObject([['NSDictionary', 0], OBJECT]);
  w.types('i');
  w.integer(1);
  w.types('@');
  w.beginObject([['NSString', 1]]);
  w.types('+');
  w.bytes(new TextEncoder().encode('__kIMMessagePartAttributeName'));
  w.endObject();
  w.types('@');
  w.beginObject([['NSNumber', 0], ['NSValue', 0], OBJECT]);
  w.types('*');
  w.cString('i');
  w.types('i');
  w.integer(0);
  w.endObject();
  w.endObject();

  w.endObject();
  return w.finish();
}
