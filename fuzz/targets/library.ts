import { LifeboatError } from '../../src/core/errors.ts';
import { decodePlist, isPlistDict } from '../../src/plist/index.ts';
import { parseKeybag } from '../../src/library/crypto/keybag.ts';
import { decodeMbFile } from '../../src/library/mbfile.ts';
import { MbFileFieldReader } from '../../src/library/mbfile-fields.ts';
import { attributedBodyText } from '../../src/library/categories/attributed-body.ts';
import { noteBodyText } from '../../src/library/categories/notes.ts';
import { imageTypeOf } from '../../src/library/categories/contact-photos.ts';
import type { Contact } from '../../src/library/categories/contacts.ts';
import { contactToVCard } from '../../src/library/export/vcard.ts';
import { encodeAttributedBody } from '../../src/virtual-iphone/dataset/attributed-body.ts';
import { JPEG_BYTES, noteData } from '../../tests/library/backup-generator.ts';
import { PYIOSBACKUP_ENCRYPTED, fixtureFile, fixtureMbFiles, fixturePayloads, MVT_BACKUP } from '../seeds.ts';
import type { Rng } from '../rng.ts';
import { type FuzzTarget, sizeClass } from '../target.ts';

/** A broken invariant of a parser's output (not a rejection): always a finding. */
class InvariantBroken extends Error {}

function tlv(tag: string, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + value.length);
  out.set(new TextEncoder().encode(tag));
  new DataView(out.buffer).setUint32(4, value.length);
  out.set(value, 8);
  return out;
}

function keybagOf(rng: Rng): Uint8Array {
  const int = (n: number) => new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  const parts = [tlv('VERS', int(4)), tlv('TYPE', int(1)), tlv('UUID', rng.bytes(16)), tlv('SALT', rng.bytes(20)), tlv('ITER', int(rng.pick([1, 10000, 0]))), tlv('DPSL', rng.bytes(20)), tlv('DPIC', int(10_000_000))];
  for (let c = 0, n = rng.below(12); c < n; c++) {
    parts.push(tlv('UUID', rng.bytes(16)), tlv('CLAS', int(1 + rng.below(11))), tlv('WRAP', int(rng.pick([1, 2, 3]))), tlv('KTYP', int(rng.below(2))), tlv('WPKY', rng.bytes(rng.pick([40, 32, 0, 7]))));
  }
  return new Uint8Array(parts.flatMap((p) => [...p]));
}

export const keybag: FuzzTarget = {
  name: 'keybag',
  async seeds() {
    const manifest = decodePlist(await fixtureFile(PYIOSBACKUP_ENCRYPTED, 'Manifest.plist'));
    const bag = isPlistDict(manifest) ? manifest['BackupKeyBag'] : undefined;
    return bag instanceof Uint8Array ? [bag] : [];
  },
  generate: keybagOf,
  run(input) {
    const bag = parseKeybag(input);
    return `classes ${Math.min(bag.classes.length, 16)} dpic ${bag.dpic !== undefined}`;
  },
};

export const mbFile: FuzzTarget = {
  name: 'mbfile',
  async seeds() {
    return fixtureMbFiles(64);
  },
  run(input) {
    // Differential: the fast field reader must agree with the full decoder whenever it answers.
    const fields = new MbFileFieldReader();
    const fast = fields.read(input, 0, input.length);
    const full = decodeMbFile(input);
    if (fast && (fields.size !== full.size || fields.mode !== full.mode)) {
      throw new InvariantBroken(`fast reader says size ${fields.size} mode ${fields.mode}, decoder ${full.size} ${full.mode}`);
    }
    return `fast ${fast} path ${full.relativePath !== undefined} xattrs ${full.extendedAttributes !== undefined}`;
  },
};

export const attributedBody: FuzzTarget = {
  name: 'attributed-body',
  async seeds() {
    return ['', 'hello', 'Grüße 🚲', 'x'.repeat(300), 'ü'.repeat(2000)].map((t) => encodeAttributedBody(t));
  },
  run(input) {
    // Documented as total: text or null for anything, never a throw.
    const text = attributedBodyText(input);
    if (text !== null && typeof text !== 'string') throw new InvariantBroken('not a string');
    return text === null ? 'null' : `text ${sizeClass(text.length)}`;
  },
  expected: () => false,
};

export const notes: FuzzTarget = {
  name: 'notes-body',
  async seeds() {
    const gz = await noteData('Shopping\nMilk, eggs — and bread');
    return [gz, await noteData('x'.repeat(5000)), await gunzipSeed(gz)];
  },
  async run(input) {
    return `text ${sizeClass((await noteBodyText(input)).length)}`;
  },
};

async function gunzipSeed(gz: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([gz as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Untrusted contact fields (AddressBook text) and picture bytes → vCard. The input is NUL-separated
 * fields; the card must stay well-formed: CRLF lines of at most 75 octets, continuations starting
 * with a space, no raw CR or LF inside a property, one BEGIN and one END.
 */
function contactFrom(input: Uint8Array): { contact: Contact; photo: Uint8Array } {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= input.length && parts.length < 18; i++) {
    if (i === input.length || input[i] === 0) {
      parts.push(input.subarray(start, i));
      start = i + 1;
    }
  }
  const photo = input.subarray(Math.min(start, input.length));
  const s = (i: number): string | undefined => (parts[i] && parts[i]!.length ? new TextDecoder().decode(parts[i]) : undefined);
  const label = (i: number) => s(i)?.split('|')[0];
  const value = (i: number) => s(i)?.split('|').slice(1).join('|') ?? '';
  const contact: Contact = {
    id: 1,
    firstName: s(0),
    lastName: s(1),
    middleName: s(2),
    prefix: s(3),
    suffix: s(4),
    nickname: s(5),
    organization: s(6),
    jobTitle: s(7),
    note: s(8),
    birthday: undefined,
    phones: s(9) ? [{ label: label(9), value: value(9) }] : [],
    emails: s(10) ? [{ label: label(10), value: value(10) }] : [],
    urls: s(11) ? [{ label: label(11), value: value(11) }] : [],
    addresses: s(12) ? [{ label: label(12), street: value(12), city: s(13), countryCode: s(14), state: s(15), postalCode: s(16), country: s(17) }] : [],
    displayName: s(0) ?? s(6) ?? '',
  };
  return { contact, photo };
}

function checkVCard(card: string): void {
  if (!card.endsWith('\r\n')) throw new InvariantBroken('vCard does not end with CRLF');
  const physical = card.slice(0, -2).split('\r\n');
  const encoder = new TextEncoder();
  const logical: string[] = [];
  for (const line of physical) {
    if (encoder.encode(line).length > 75) throw new InvariantBroken(`vCard line of ${encoder.encode(line).length} octets`);
    if (/[\r\n]/.test(line)) throw new InvariantBroken('raw CR or LF inside a vCard line');
    if (line.startsWith(' ')) {
      if (logical.length === 0) throw new InvariantBroken('vCard starts with a continuation line');
      logical[logical.length - 1] += line.slice(1);
    } else logical.push(line);
  }
  for (const line of logical) {
    if (!/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)?(;[^:]*)?:/.test(line)) throw new InvariantBroken(`vCard line without a property name: ${line.slice(0, 40)}`);
  }
  if (logical[0] !== 'BEGIN:VCARD' || logical[logical.length - 1] !== 'END:VCARD') throw new InvariantBroken('vCard not framed by BEGIN/END');
  if (logical.filter((l) => l === 'BEGIN:VCARD' || l === 'END:VCARD').length !== 2) throw new InvariantBroken('a field broke out into a new card');
}

export const vcard: FuzzTarget = {
  name: 'vcard-photo',
  async seeds() {
    const enc = new TextEncoder();
    const fields = ['Ann', 'Lee;Smith', 'M', 'Dr.', 'Jr.', 'Annie', 'Acme, Inc.', 'Boss', 'line1\nline2\r\nline3\\', '_$!<Mobile>!$_|+1 555 0100', 'custom|a@example.com', '|https://example.com', '_$!<Home>!$_|1 Main St\nApt 2', 'Springfield', 'us', 'IL', '62704', 'United States'];
    const text = enc.encode(fields.join('\0') + '\0');
    const photos = (await fixturePayloads(MVT_BACKUP, 32 * 1024)).filter((p) => imageTypeOf(p)).slice(0, 4);
    return [JPEG_BYTES, ...photos].map((photo) => new Uint8Array([...text, ...photo]));
  },
  run(input) {
    const { contact, photo } = contactFrom(input);
    const card = contactToVCard(contact, photo);
    checkVCard(card);
    return `lines ${sizeClass(card.split('\r\n').length)} photo ${imageTypeOf(photo)?.vcardType}`;
  },
  expected: () => false,
};
