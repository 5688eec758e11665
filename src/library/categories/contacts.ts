import type { BackupReader } from '../backup-reader.ts';
import { appleTime, int, text, withSharedDatabase, type Row } from './common.ts';
import type { PostalAddress } from './postal-address.ts';

export { addressLines, type PostalAddress } from './postal-address.ts';

export const ADDRESS_BOOK = { domain: 'HomeDomain', relativePath: 'Library/AddressBook/AddressBook.sqlitedb' } as const;

/** ABMultiValue.property numbers used by the iOS address book. */
export const PROPERTY_PHONE = 3;
export const PROPERTY_EMAIL = 4;
/** A postal address: the ABMultiValue row has no value; its parts are ABMultiValueEntry rows. */
export const PROPERTY_ADDRESS = 5;
export const PROPERTY_URL = 22;

export interface LabeledValue {
  label: string | undefined;
  value: string;
}

/** ABMultiValueEntryKey.value (kABPersonAddress…Key) → PostalAddress field. */
const ADDRESS_KEYS: Record<string, Exclude<keyof PostalAddress, 'label'>> = {
  street: 'street',
  city: 'city',
  state: 'state',
  zip: 'postalCode',
  country: 'country',
  countrycode: 'countryCode',
};

export interface Contact {
  id: number;
  firstName: string | undefined;
  lastName: string | undefined;
  middleName: string | undefined;
  prefix: string | undefined;
  suffix: string | undefined;
  nickname: string | undefined;
  organization: string | undefined;
  jobTitle: string | undefined;
  note: string | undefined;
  birthday: string | undefined;
  phones: LabeledValue[];
  emails: LabeledValue[];
  urls: LabeledValue[];
  addresses: PostalAddress[];
  /** What a list shows: the name, else the organisation, else the first phone or email. */
  displayName: string;
}

/** "_$!<Mobile>!$_" → "Mobile" (how iOS stores its built-in labels). */
function cleanLabel(label: string | undefined): string | undefined {
  if (!label) return undefined;
  const m = /^_\$!<(.*)>!\$_$/.exec(label);
  return m ? m[1] : label;
}

/** The parts of every postal address, by ABMultiValue.UID; addresses with no part at all are left out. */
function addressParts(query: (sql: string) => Row[], has: (table: string) => boolean): Map<number, Omit<PostalAddress, 'label'>> {
  const addresses = new Map<number, Omit<PostalAddress, 'label'>>();
  if (!has('ABMultiValueEntry') || !has('ABMultiValueEntryKey')) return addresses;
  for (const r of query('SELECT e.parent_id AS parent, k.value AS key, e.value FROM ABMultiValueEntry e JOIN ABMultiValueEntryKey k ON k.ROWID = e.key')) {
    const field = ADDRESS_KEYS[(text(r['key']) ?? '').toLowerCase()];
    const value = text(r['value']);
    if (!field || !value) continue;
    const parent = int(r['parent']);
    const address = addresses.get(parent) ?? { street: undefined, city: undefined, state: undefined, postalCode: undefined, country: undefined, countryCode: undefined };
    address[field] = value;
    addresses.set(parent, address);
  }
  return addresses;
}

export async function readContacts(reader: BackupReader): Promise<Contact[]> {
  return withSharedDatabase(reader, ADDRESS_BOOK.domain, ADDRESS_BOOK.relativePath, [] as Contact[], (_db, query, has, cols) => {
    if (!has('ABPerson')) return [];
    const personCols = cols('ABPerson');
    const col = (name: string) => (personCols.has(name) ? name : `NULL AS ${name}`);
    type Values = Pick<Contact, 'phones' | 'emails' | 'urls' | 'addresses'>;
    const noValues = (): Values => ({ phones: [], emails: [], urls: [], addresses: [] });
    const values = new Map<number, Values>();
    if (has('ABMultiValue')) {
      const labelJoin = has('ABMultiValueLabel') ? 'LEFT JOIN ABMultiValueLabel l ON l.ROWID = mv.label' : '';
      const labelCol = has('ABMultiValueLabel') ? 'l.value AS label' : 'NULL AS label';
      const parts = addressParts(query, has);
      for (const r of query(`SELECT mv.UID AS uid, mv.record_id, mv.property, mv.value, ${labelCol} FROM ABMultiValue mv ${labelJoin} ORDER BY mv.UID`)) {
        const id = int(r['record_id']);
        const label = cleanLabel(text(r['label']));
        const property = int(r['property']);
        if (property === PROPERTY_ADDRESS) {
          const address = parts.get(int(r['uid']));
          if (!address) continue;
          const bucket = values.get(id) ?? noValues();
          bucket.addresses.push({ ...address, label });
          values.set(id, bucket);
          continue;
        }
        const value = text(r['value']);
        if (!value) continue;
        const bucket = values.get(id) ?? noValues();
        const item = { label, value };
        if (property === PROPERTY_PHONE) bucket.phones.push(item);
        else if (property === PROPERTY_EMAIL) bucket.emails.push(item);
        else if (property === PROPERTY_URL) bucket.urls.push(item);
        values.set(id, bucket);
      }
    }
    const rows = query(
      `SELECT ROWID AS id, ${col('First')}, ${col('Last')}, ${col('Middle')}, ${col('Prefix')}, ${col('Suffix')}, ${col('Nickname')}, ${col('Organization')},
              ${col('JobTitle')}, ${col('Note')}, ${col('Birthday')} FROM ABPerson ORDER BY ROWID`,
    );
    return rows.map((r) => {
      const id = int(r['id']);
      const v = values.get(id) ?? noValues();
      const firstName = text(r['First']);
      const lastName = text(r['Last']);
      const organization = text(r['Organization']);
      const name = [firstName, lastName].filter(Boolean).join(' ');
      const birthday = r['Birthday'];
      return {
        id,
        firstName,
        lastName,
        middleName: text(r['Middle']),
        prefix: text(r['Prefix']),
        suffix: text(r['Suffix']),
        nickname: text(r['Nickname']),
        organization,
        jobTitle: text(r['JobTitle']),
        note: text(r['Note']),
        // Stored as Apple seconds (sometimes as a numeric string).
        birthday: appleTime(typeof birthday === 'string' ? Number(birthday) : birthday)?.slice(0, 10),
        ...v,
        displayName: name || organization || v.phones[0]?.value || v.emails[0]?.value || 'No name',
      };
    });
  });
}

// The vCard writer lives in export/vcard.ts; re-exported here, where callers have always found it.
export { contactToVCard, contactsToVCard } from '../export/vcard.ts';
