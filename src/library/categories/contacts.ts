import type { BackupReader } from '../backup-reader.ts';
import { appleTime, int, text, withSharedDatabase } from './common.ts';

export const ADDRESS_BOOK = { domain: 'HomeDomain', relativePath: 'Library/AddressBook/AddressBook.sqlitedb' } as const;

/** ABMultiValue.property numbers used by the iOS address book. */
export const PROPERTY_PHONE = 3;
export const PROPERTY_EMAIL = 4;
export const PROPERTY_URL = 22;

export interface LabeledValue {
  label: string | undefined;
  value: string;
}

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
  /** What a list shows: the name, else the organisation, else the first phone or email. */
  displayName: string;
}

/** "_$!<Mobile>!$_" → "Mobile" (how iOS stores its built-in labels). */
function cleanLabel(label: string | undefined): string | undefined {
  if (!label) return undefined;
  const m = /^_\$!<(.*)>!\$_$/.exec(label);
  return m ? m[1] : label;
}

export async function readContacts(reader: BackupReader): Promise<Contact[]> {
  return withSharedDatabase(reader, ADDRESS_BOOK.domain, ADDRESS_BOOK.relativePath, [] as Contact[], (_db, query, has, cols) => {
    if (!has('ABPerson')) return [];
    const personCols = cols('ABPerson');
    const col = (name: string) => (personCols.has(name) ? name : `NULL AS ${name}`);
    const values = new Map<number, { phones: LabeledValue[]; emails: LabeledValue[]; urls: LabeledValue[] }>();
    if (has('ABMultiValue')) {
      const labelJoin = has('ABMultiValueLabel') ? 'LEFT JOIN ABMultiValueLabel l ON l.ROWID = mv.label' : '';
      const labelCol = has('ABMultiValueLabel') ? 'l.value AS label' : 'NULL AS label';
      for (const r of query(`SELECT mv.record_id, mv.property, mv.value, ${labelCol} FROM ABMultiValue mv ${labelJoin} ORDER BY mv.UID`)) {
        const value = text(r['value']);
        if (!value) continue;
        const id = int(r['record_id']);
        const bucket = values.get(id) ?? { phones: [], emails: [], urls: [] };
        const item = { label: cleanLabel(text(r['label'])), value };
        const property = int(r['property']);
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
      const v = values.get(id) ?? { phones: [], emails: [], urls: [] };
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
