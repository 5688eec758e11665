/**
 * Contacts as vCard 3.0 (RFC 2426), the version Apple's Contacts app writes and reads: one card per
 * contact, with its picture when the backup has one; several contacts are their cards one after
 * another. Built-in labels become TYPE parameters; custom labels travel as Apple's grouped
 * `itemN.X-ABLabel`, which Contacts, Google Contacts and Outlook understand.
 */
import { encodeBase64 } from '../../plist/base64.ts';
import type { Contact, LabeledValue, PostalAddress } from '../categories/contacts.ts';
import { imageTypeOf } from '../categories/contact-photos.ts';

/** vCard 3.0 text value escaping (RFC 2426 §4): backslash, newline, comma, semicolon. */
export function escapeVCardText(value: string): string {
  return value
    .replace(/\r\n?/g, '\n')
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/,/g, '\\,')
    .replace(/;/g, '\\;');
}

/** Lines longer than 75 octets are folded with CRLF + space (RFC 2425 §5.8.1), never inside a UTF-8 sequence. */
export function foldVCardLine(line: string): string {
  if (line.length <= 75 && !/[^\x00-\x7f]/.test(line)) return line;
  if (!/[^\x00-\x7f]/.test(line)) {
    // ASCII (e.g. a base64 picture): one octet per character.
    const parts = [line.slice(0, 75)];
    for (let at = 75; at < line.length; at += 74) parts.push(line.slice(at, at + 74));
    return parts.join('\r\n ');
  }
  const encoder = new TextEncoder();
  const parts: string[] = [];
  let current = '';
  let size = 0;
  for (const ch of line) {
    const n = encoder.encode(ch).length;
    if (size + n > (parts.length === 0 ? 75 : 74)) {
      parts.push(current);
      current = '';
      size = 0;
    }
    current += ch;
    size += n;
  }
  parts.push(current);
  return parts.join('\r\n ');
}

/** iOS's built-in labels (after "_$!<…>!$_" is stripped), as vCard TYPE values. */
const PHONE_TYPES: Record<string, string> = {
  mobile: 'CELL',
  iphone: 'IPHONE,CELL',
  home: 'HOME',
  work: 'WORK',
  main: 'MAIN',
  homefax: 'HOME,FAX',
  workfax: 'WORK,FAX',
  otherfax: 'FAX',
  pager: 'PAGER',
  other: 'OTHER',
};
const EMAIL_TYPES: Record<string, string> = { home: 'HOME', work: 'WORK', other: 'OTHER' };
const URL_TYPES: Record<string, string> = { home: 'HOME', work: 'WORK', homepage: 'HOMEPAGE', other: 'OTHER' };

const ADDRESS_TYPES: Record<string, string> = { home: 'HOME', work: 'WORK', other: 'OTHER' };

/**
 * Lines for one labelled value (`value` already escaped): a TYPE for a built-in label, Apple's item
 * group for a custom one or when `groupExtras` (more lines of the same group, like X-ABADR) are given.
 */
function labelled(
  property: string,
  baseTypes: string[],
  known: Record<string, string>,
  label: string | undefined,
  value: string,
  nextGroup: () => string,
  groupExtras: string[] = [],
): string[] {
  const key = label?.toLowerCase().replace(/\s+/g, '');
  const builtIn = key ? known[key] : undefined;
  const types = [...baseTypes, ...(builtIn ? [builtIn] : [])];
  const params = types.length ? `;TYPE=${types.join(',')}` : '';
  const customLabel = label && !builtIn ? [`X-ABLabel:${escapeVCardText(label)}`] : [];
  if (customLabel.length || groupExtras.length) {
    const group = nextGroup();
    return [`${group}.${property}${params}:${value}`, ...[...customLabel, ...groupExtras].map((line) => `${group}.${line}`)];
  }
  return [`${property}${params}:${value}`];
}

const textValue = (item: LabeledValue): string => escapeVCardText(item.value);

/**
 * ADR's seven components (RFC 2426 §3.2.1 / RFC 6350 §6.3.1): post office box; extended address;
 * street; locality; region; postal code; country. Each is escaped on its own, so a ';' or ',' inside
 * one (and a street's line breaks, as \n) cannot shift the others. iOS has no PO box or extended
 * address fields: those stay empty.
 */
export function adrValue(a: PostalAddress): string {
  return ['', '', a.street, a.city, a.state, a.postalCode, a.country].map((part) => escapeVCardText(part ?? '')).join(';');
}

/** One contact's vCard 3.0 text, CRLF line ends, with its picture (JPEG/PNG/GIF/HEIC) base64-inlined. */
export function contactToVCard(c: Contact, photo?: Uint8Array): string {
  let groups = 0;
  const nextGroup = () => `item${++groups}`;
  const e = escapeVCardText;
  const lines = ['BEGIN:VCARD', 'VERSION:3.0'];
  lines.push(`N:${e(c.lastName ?? '')};${e(c.firstName ?? '')};${e(c.middleName ?? '')};${e(c.prefix ?? '')};${e(c.suffix ?? '')}`);
  lines.push(`FN:${e(c.displayName)}`);
  if (c.nickname) lines.push(`NICKNAME:${e(c.nickname)}`);
  if (c.organization) lines.push(`ORG:${e(c.organization)}`);
  if (c.jobTitle) lines.push(`TITLE:${e(c.jobTitle)}`);
  for (const p of c.phones) lines.push(...labelled('TEL', [], PHONE_TYPES, p.label, textValue(p), nextGroup));
  for (const m of c.emails) lines.push(...labelled('EMAIL', ['INTERNET'], EMAIL_TYPES, m.label, textValue(m), nextGroup));
  // Apple's Contacts keeps the country code beside an address as X-ABADR in the same item group.
  for (const a of c.addresses ?? []) {
    const countryCode = a.countryCode ? [`X-ABADR:${escapeVCardText(a.countryCode)}`] : [];
    lines.push(...labelled('ADR', [], ADDRESS_TYPES, a.label, adrValue(a), nextGroup, countryCode));
  }
  for (const u of c.urls) lines.push(...labelled('URL', [], URL_TYPES, u.label, textValue(u), nextGroup));
  if (c.birthday) lines.push(`BDAY:${c.birthday}`);
  if (c.note) lines.push(`NOTE:${e(c.note)}`);
  const type = photo && photo.length ? imageTypeOf(photo) : undefined;
  if (photo && type) lines.push(`PHOTO;ENCODING=b;TYPE=${type.vcardType}:${encodeBase64(photo)}`);
  lines.push('END:VCARD');
  return lines.map(foldVCardLine).join('\r\n') + '\r\n';
}

/** Every contact's card, in order: exactly the concatenation of their single-contact vCards. */
export function contactsToVCard(contacts: Contact[], photos?: ReadonlyMap<number, Uint8Array>): string {
  return contacts.map((c) => contactToVCard(c, photos?.get(c.id))).join('');
}
