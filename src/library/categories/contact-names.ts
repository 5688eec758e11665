import type { BackupReader } from '../backup-reader.ts';
import { readContacts, type Contact } from './contacts.ts';

/**
 * Who a handle is: the name of the contact whose phone number or email it is. Messages, call
 * history and search store bare handles ("+4915112345670", "anna@example.com"), while the address
 * book holds what the person typed ("0151 1234 5670", "Anna@Example.com"), so numbers are compared
 * by their digits — international (+49…, 0049…) against national (0151…) forms, punctuation
 * ignored — and emails case-insensitively.
 */

/** A number reduced to digits: `international` when it carried its country code (+ or 00). */
interface PhoneKey {
  digits: string;
  international: boolean;
}

/** The shortest national number compared by suffix: fewer digits would match strangers. */
const MIN_SIGNIFICANT = 7;
/** Country codes are one to three digits: an international number is at most that much longer. */
const MAX_COUNTRY_CODE = 3;

function stripScheme(handle: string): string {
  return handle.trim().replace(/^(tel|sms|mailto|imessage):/i, '');
}

export function phoneKey(value: string): PhoneKey | undefined {
  const raw = stripScheme(value);
  if (raw.includes('@') || /[a-z]/i.test(raw.replace(/(ext|x)\.?\s*\d+$/i, ''))) return undefined;
  const trimmed = raw.replace(/(ext|x)\.?\s*\d+$/i, ''); // an extension is not part of the number
  let digits = trimmed.replace(/[^\d+]/g, '');
  let international = false;
  if (digits.startsWith('+')) {
    international = true;
    digits = digits.slice(1);
  } else if (digits.startsWith('00')) {
    international = true;
    digits = digits.slice(2);
  }
  digits = digits.replace(/\+/g, '');
  if (!international) digits = digits.replace(/^0+/, ''); // the national trunk prefix
  return digits.length >= MIN_SIGNIFICANT ? { digits, international } : undefined;
}

/** Whether two numbers are the same line, as far as digits alone can say. */
export function samePhone(a: PhoneKey, b: PhoneKey): boolean {
  if (a.international === b.international) return a.digits === b.digits;
  const [intl, national] = a.international ? [a, b] : [b, a];
  // Equal digits too: "1 555 123 4567" typed without its "+" is still the international form.
  const extra = intl.digits.length - national.digits.length;
  return extra >= 0 && extra <= MAX_COUNTRY_CODE && intl.digits.endsWith(national.digits);
}

export function emailKey(value: string): string | undefined {
  const raw = stripScheme(value).toLowerCase();
  return /^[^\s@]+@[^\s@]+$/.test(raw) ? raw : undefined;
}

/** A contact's name as lists show it, or undefined when it has none (a bare number is no name). */
export function contactName(c: Contact): string | undefined {
  const name = [c.firstName, c.lastName].filter(Boolean).join(' ');
  return name || c.nickname || c.organization || undefined;
}

export class ContactDirectory {
  /** By the last MIN_SIGNIFICANT digits: every candidate for a number shares them. */
  private readonly phones = new Map<string, { key: PhoneKey; contact: Contact }[]>();
  private readonly emails = new Map<string, Contact>();

  constructor(readonly contacts: readonly Contact[]) {
    for (const contact of contacts) {
      if (!contactName(contact)) continue;
      for (const p of contact.phones) {
        const key = phoneKey(p.value);
        if (!key) continue;
        const tail = key.digits.slice(-MIN_SIGNIFICANT);
        const list = this.phones.get(tail) ?? [];
        list.push({ key, contact });
        this.phones.set(tail, list);
      }
      for (const e of contact.emails) {
        const key = emailKey(e.value);
        if (key && !this.emails.has(key)) this.emails.set(key, contact);
      }
    }
  }

  /** The contact a handle (phone number or email) belongs to. */
  contactFor(handle: string | undefined): Contact | undefined {
    if (!handle) return undefined;
    const email = emailKey(handle);
    if (email) return this.emails.get(email);
    const key = phoneKey(handle);
    if (!key) return undefined;
    return this.phones.get(key.digits.slice(-MIN_SIGNIFICANT))?.find((c) => samePhone(c.key, key))?.contact;
  }

  nameFor(handle: string | undefined): string | undefined {
    const contact = this.contactFor(handle);
    return contact && contactName(contact);
  }

  /** Contacts whose name, nickname or organisation contains `text` (case-insensitively). */
  named(text: string): Contact[] {
    const needle = text.trim().toLocaleLowerCase();
    if (!needle) return [];
    return this.contacts.filter((c) =>
      [contactName(c), [c.firstName, c.middleName, c.lastName].filter(Boolean).join(' '), c.nickname, c.organization].some((v) => v?.toLocaleLowerCase().includes(needle)),
    );
  }
}

const directories = new WeakMap<BackupReader, Promise<ContactDirectory>>();

/** The open backup's contacts as a directory (read once per reader; an unreadable address book is an empty one). */
export function contactDirectory(reader: BackupReader): Promise<ContactDirectory> {
  let pending = directories.get(reader);
  if (!pending) {
    pending = readContacts(reader).then(
      (contacts) => new ContactDirectory(contacts),
      () => new ContactDirectory([]),
    );
    directories.set(reader, pending);
  }
  return pending;
}
