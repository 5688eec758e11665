/**
 * Search inside a backup's own data, for results as the person types: message text, the handles
 * and names of conversations (sms.db) and contacts by name, organisation, phone or email
 * (AddressBook). Each query is a LIKE over the kept-open database (BackupReader.sharedDatabase),
 * limited and newest first, and returns small rows: the UI never loads whole conversations to
 * search them. Messages whose text lives only in `attributedBody` (iOS 16+) are matched on the
 * blob's bytes in SQL, then decoded and confirmed here, with LIKE's meaning (ASCII case-insensitive).
 */
import type { BackupReader } from './backup-reader.ts';
import { appleTime, escapeLike, int, text, withSharedDatabase, type Row } from './categories/common.ts';
import { attributedBodyText } from './categories/attributed-body.ts';
import { readChats, SMS_DB } from './categories/messages.ts';
import { contactDirectory, contactName, type ContactDirectory } from './categories/contact-names.ts';
import { ADDRESS_BOOK, PROPERTY_EMAIL, PROPERTY_PHONE } from './categories/contacts.ts';

export interface MessageHit {
  chatId: number;
  messageId: number;
  /** The text around the match (at most about SNIPPET_LENGTH characters). */
  snippet: string;
  date: string | undefined;
  isFromMe: boolean;
  /** The sender's handle (phone or email) for received messages. */
  sender: string | undefined;
  /** The sender's contact name, when the handle matches a contact. */
  senderName?: string | undefined;
  chatTitle: string;
}

export interface ConversationHit {
  chatId: number;
  title: string;
  /** What matched: a participant's handle or contact name, the chat's name or its identifier. */
  matched: string;
  lastMessageDate: string | undefined;
}

export interface ContactHit {
  contactId: number;
  name: string;
  /** The value that matched when it is not the name (an organisation, phone number or email). */
  matched: string | undefined;
}

export interface ContentSearchResults {
  messages: MessageHit[];
  conversations: ConversationHit[];
  contacts: ContactHit[];
}

const SNIPPET_LENGTH = 90;

/** Digits only, when the query looks like part of a phone number ("555 12", "+1 (555)"). */
function phoneDigits(query: string): string | undefined {
  if (!/^[\d\s+().-]+$/.test(query)) return undefined;
  const digits = query.replace(/\D/g, '');
  return digits.length >= 3 ? digits : undefined;
}

/** SQL that strips the usual phone punctuation from `column`, to compare with phoneDigits(). */
function digitsOf(column: string): string {
  let sql = column;
  for (const c of [' ', '-', '(', ')', '+', '.', '\u00a0']) sql = `replace(${sql}, '${c}', '')`;
  return sql;
}

/** The part of `text` around the first case-insensitive occurrence of `needle`, with ellipses. */
export function snippetAround(text: string, needle: string, length = SNIPPET_LENGTH): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= length) return flat;
  const at = Math.max(0, flat.toLowerCase().indexOf(needle.toLowerCase()));
  const start = Math.max(0, Math.min(at - Math.floor((length - needle.length) / 3), flat.length - length));
  const end = Math.min(flat.length, start + length);
  return `${start > 0 ? '…' : ''}${flat.slice(start, end).trim()}${end < flat.length ? '…' : ''}`;
}

function chatTitles(query: (sql: string, bind?: (string | number | null)[]) => Row[], has: (t: string) => boolean, chatIds: number[]): Map<number, string> {
  const titles = new Map<number, string>();
  if (!chatIds.length) return titles;
  const list = chatIds.join(',');
  const participants = new Map<number, string[]>();
  if (has('chat_handle_join') && has('handle')) {
    for (const r of query(`SELECT chj.chat_id AS chat, h.id AS handle FROM chat_handle_join chj JOIN handle h ON h.ROWID = chj.handle_id WHERE chj.chat_id IN (${list}) ORDER BY h.ROWID`)) {
      const names = participants.get(int(r['chat'])) ?? [];
      names.push(String(r['handle']));
      participants.set(int(r['chat']), names);
    }
  }
  for (const r of query(`SELECT ROWID AS id, chat_identifier, display_name FROM chat WHERE ROWID IN (${list})`)) {
    const id = int(r['id']);
    titles.set(id, text(r['display_name']) || participants.get(id)?.join(', ') || text(r['chat_identifier']) || 'Conversation');
  }
  return titles;
}

/** Lower-cases A–Z only, as SQLite's LIKE and lower() do without ICU: one meaning of "matches" for text and blobs. */
export function asciiLower(value: string): string {
  return value.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/** Every byte value once, in order: instr() of a one-byte blob in it, minus one, is that byte's value. */
const BYTE_VALUES = `X'${Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0')).join('')}'`;
const byteAt = (blob: string, at: string) => `(instr(${BYTE_VALUES}, substr(${blob}, ${at}, 1)) - 1)`;

/**
 * SQL for the bytes of the string an attributedBody archives (see categories/attributed-body.ts):
 * they follow the first "+" type encoding (84 01 2B) and its length (one byte, 0x81 + u16 or
 * 0x82 + u32, little-endian). Searching only there keeps class and attribute names ("NSString",
 * "__kIMMessagePartAttributeName") from matching. A blob without that marker is searched whole;
 * every candidate is decoded and confirmed in JS anyway.
 */
function archivedStringBytes(blob: string): string {
  const s = `instr(${blob}, X'84012B')`;
  const at = (offset: number) => `${s} + ${offset}`;
  return `CASE WHEN ${s} = 0 THEN ${blob} ELSE CASE substr(${blob}, ${at(3)}, 1)
    WHEN X'81' THEN substr(${blob}, ${at(6)}, ${byteAt(blob, at(4))} + 256 * ${byteAt(blob, at(5))})
    WHEN X'82' THEN substr(${blob}, ${at(8)}, ${byteAt(blob, at(4))} + 256 * ${byteAt(blob, at(5))} + 65536 * ${byteAt(blob, at(6))} + 16777216 * ${byteAt(blob, at(7))})
    ELSE substr(${blob}, ${at(4)}, ${byteAt(blob, at(3))}) END END`;
}

/** Messages whose text contains `query`, newest first; and conversations whose handles or name do. */
export async function searchMessages(reader: BackupReader, query: string, limit = 50): Promise<Pick<ContentSearchResults, 'messages' | 'conversations'>> {
  const q = query.trim();
  const empty = { messages: [], conversations: [] };
  if (!q) return empty;
  return withSharedDatabase(reader, SMS_DB.domain, SMS_DB.relativePath, empty as Pick<ContentSearchResults, 'messages' | 'conversations'>, (_db, run, has, cols) => {
    if (!has('message') || !has('chat')) return empty;
    const pattern = `%${escapeLike(q)}%`;
    const digits = phoneDigits(q);
    const hasHandle = has('handle');
    const joined = has('chat_message_join');

    // The matching messages first (one scan of message, top-N by date), then the conversations of
    // just those: joining first would visit every chat_message_join row per keystroke.
    const found = joined ? matchingMessages(run, cols('message').has('attributedBody'), q, limit) : new Map<number, string>();
    const ids = [...found.keys()];
    const byId = new Map(
      (ids.length
        ? run(
            `SELECT m.ROWID AS id, m.date, m.is_from_me, ${hasHandle ? 'h.id' : 'NULL'} AS sender FROM message m
             ${hasHandle ? 'LEFT JOIN handle h ON h.ROWID = m.handle_id' : ''} WHERE m.ROWID IN (${ids.join(',')})`,
          )
        : []
      ).map((r): [number, Row] => [int(r['id']), Object.assign(r, { text: found.get(int(r['id']))! })]),
    );
    const matched = ids.map((id) => byId.get(id)).filter((r): r is Row => r !== undefined);
    const chatOf = new Map<number, number>();
    if (matched.length) {
      for (const r of run(`SELECT message_id, min(chat_id) AS chat FROM chat_message_join WHERE message_id IN (${matched.map((r) => int(r['id'])).join(',')}) GROUP BY message_id`)) {
        chatOf.set(int(r['message_id']), int(r['chat']));
      }
    }
    const rows: Row[] = matched.filter((r) => chatOf.has(int(r['id']))).map((r) => Object.assign({}, r, { chat: chatOf.get(int(r['id']))! }));

    const conversationRows = run(
      `SELECT c.ROWID AS id, c.chat_identifier, c.display_name,
              ${hasHandle && has('chat_handle_join') ? `(SELECT group_concat(h.id, ', ') FROM chat_handle_join chj JOIN handle h ON h.ROWID = chj.handle_id
                 WHERE chj.chat_id = c.ROWID AND (h.id LIKE ?1 ESCAPE '\\'${digits ? ` OR ${digitsOf('h.id')} LIKE ?2` : ''}))` : 'NULL'} AS handles,
              ${joined ? '(SELECT max(m.date) FROM chat_message_join cmj JOIN message m ON m.ROWID = cmj.message_id WHERE cmj.chat_id = c.ROWID)' : 'NULL'} AS last
       FROM chat c
       WHERE handles IS NOT NULL OR c.display_name LIKE ?1 ESCAPE '\\' OR c.chat_identifier LIKE ?1 ESCAPE '\\'
             ${digits ? `OR ${digitsOf('c.chat_identifier')} LIKE ?2` : ''}
       ORDER BY last DESC, c.ROWID DESC LIMIT ?3`,
      [pattern, digits ? `%${digits}%` : null, limit],
    );

    const titles = chatTitles(run, has, [...new Set([...rows.map((r) => int(r['chat'])), ...conversationRows.map((r) => int(r['id']))])]);
    const messages: MessageHit[] = rows.map((r) => ({
      chatId: int(r['chat']),
      messageId: int(r['id']),
      snippet: snippetAround(text(r['text']) ?? '', q),
      date: appleTime(r['date']),
      isFromMe: int(r['is_from_me']) === 1,
      sender: int(r['is_from_me']) === 1 ? undefined : text(r['sender']),
      chatTitle: titles.get(int(r['chat'])) ?? 'Conversation',
    }));
    const conversations: ConversationHit[] = conversationRows.map((r) => {
      const displayName = text(r['display_name']);
      const handles = text(r['handles']);
      return {
        chatId: int(r['id']),
        title: titles.get(int(r['id'])) ?? 'Conversation',
        matched: handles || (displayName && displayName.toLowerCase().includes(q.toLowerCase()) ? displayName : text(r['chat_identifier']) ?? ''),
        lastMessageDate: appleTime(r['last']),
      };
    });
    return { messages, conversations };
  });
}

type Query = (sql: string, bind?: (string | number | null)[]) => Row[];

/**
 * The newest `limit` messages whose text contains `q` (ASCII case-insensitive, as LIKE): those with
 * `text`, and those whose text only lives in `attributedBody` (iOS 16+). SQL finds the blob
 * candidates by their bytes; each is decoded and confirmed here, and if some were not really hits,
 * the next page of candidates fills their places. Returns id → text, newest first.
 */
function matchingMessages(run: Query, hasBody: boolean, q: string, limit: number): Map<number, string> {
  const found = new Map<number, string>();
  const pattern = `%${escapeLike(q)}%`;
  const needle = asciiLower(q);
  const archived = "(text IS NULL OR text = '')";
  // Only ids go through the top-N sort (blobs there would be copied for every match), and a cheap
  // test of the whole blob runs before the exact one of the string's own bytes.
  const sql = hasBody
    ? `SELECT ROWID AS id FROM message
       WHERE text LIKE ?1 ESCAPE '\\' OR (${archived} AND attributedBody IS NOT NULL
         AND instr(lower(attributedBody), lower(?2)) > 0 AND instr(lower(${archivedStringBytes('attributedBody')}), lower(?2)) > 0)
       ORDER BY date DESC, ROWID DESC LIMIT ?3 OFFSET ?4`
    : `SELECT ROWID AS id FROM message WHERE text LIKE ?1 ESCAPE '\\' AND ?2 IS NOT NULL ORDER BY date DESC, ROWID DESC LIMIT ?3 OFFSET ?4`;
  for (let offset = 0; found.size < limit; ) {
    const wanted = limit - found.size;
    const ids = run(sql, [pattern, q, wanted, offset]).map((r) => int(r['id']));
    const rows = new Map(
      (ids.length
        ? run(`SELECT ROWID AS id, text, ${hasBody ? `CASE WHEN ${archived} THEN attributedBody END` : 'NULL'} AS body FROM message WHERE ROWID IN (${ids.join(',')})`)
        : []
      ).map((r): [number, Row] => [int(r['id']), r]),
    );
    const page = ids.map((id) => rows.get(id)).filter((r): r is Row => r !== undefined);
    for (const r of page) {
      const plain = text(r['text']);
      if (plain) {
        found.set(int(r['id']), plain); // LIKE matched it
        continue;
      }
      const decoded = r['body'] instanceof Uint8Array ? attributedBodyText(r['body']) : null;
      if (decoded && asciiLower(decoded).includes(needle)) found.set(int(r['id']), decoded);
    }
    if (ids.length < wanted) break; // no more candidates
    offset += ids.length;
  }
  return found;
}

/** Contacts whose name, nickname, organisation, phone numbers or email addresses contain `query`. */
export async function searchContacts(reader: BackupReader, query: string, limit = 50): Promise<ContactHit[]> {
  const q = query.trim();
  if (!q) return [];
  return withSharedDatabase(reader, ADDRESS_BOOK.domain, ADDRESS_BOOK.relativePath, [] as ContactHit[], (_db, run, has, cols) => {
    if (!has('ABPerson')) return [];
    const c = cols('ABPerson');
    const col = (name: string) => (c.has(name) ? `p.${name}` : 'NULL');
    const pattern = `%${escapeLike(q)}%`;
    const digits = phoneDigits(q);
    const fullName = `trim(coalesce(${col('First')}, '') || ' ' || coalesce(${col('Middle')}, '') || ' ' || coalesce(${col('Last')}, ''))`;
    const shortName = `trim(coalesce(${col('First')}, '') || ' ' || coalesce(${col('Last')}, ''))`;
    const nameFields = [fullName, shortName, col('Nickname'), col('Organization')].filter((f) => f !== 'NULL');
    const multi = has('ABMultiValue');
    const valueMatch = multi
      ? `(SELECT mv.value FROM ABMultiValue mv WHERE mv.record_id = p.ROWID AND mv.property IN (${PROPERTY_PHONE}, ${PROPERTY_EMAIL})
           AND (mv.value LIKE ?1 ESCAPE '\\'${digits ? ` OR (mv.property = ${PROPERTY_PHONE} AND ${digitsOf('mv.value')} LIKE ?2)` : ''}) ORDER BY mv.UID LIMIT 1)`
      : 'NULL';
    const firstValue = (property: number) =>
      multi ? `(SELECT mv.value FROM ABMultiValue mv WHERE mv.record_id = p.ROWID AND mv.property = ${property} ORDER BY mv.UID LIMIT 1)` : 'NULL';
    const rows = run(
      `SELECT * FROM (
         SELECT p.ROWID AS id, ${shortName} AS name, ${col('Organization')} AS organization, ${col('Nickname')} AS nickname,
                ${nameFields.map((f) => `${f} LIKE ?1 ESCAPE '\\'`).join(' OR ')} AS nameMatch,
                ${valueMatch} AS value, ${firstValue(PROPERTY_PHONE)} AS phone, ${firstValue(PROPERTY_EMAIL)} AS email
         FROM ABPerson p)
       WHERE nameMatch OR value IS NOT NULL
       ORDER BY nameMatch DESC, (name = '') , name COLLATE NOCASE, organization COLLATE NOCASE, id LIMIT ?3`,
      [pattern, digits ? `%${digits}%` : null, limit],
    );
    return rows.map((r) => {
      const name = text(r['name']) || text(r['organization']) || text(r['phone']) || text(r['email']) || 'No name';
      const lower = q.toLowerCase();
      const organization = text(r['organization']);
      const nickname = text(r['nickname']);
      const matched = int(r['nameMatch'])
        ? name.toLowerCase().includes(lower) ? undefined : [nickname, organization].find((v) => v?.toLowerCase().includes(lower)) ?? undefined
        : text(r['value']);
      return { contactId: int(r['id']), name, matched: matched === name ? undefined : matched };
    });
  });
}

/**
 * Conversations with someone whose contact name contains `query` (sms.db knows only handles), newest
 * first, leaving out those already in `found`.
 */
async function conversationsWithContactsNamed(reader: BackupReader, directory: ContactDirectory, query: string, found: Set<number>, limit: number): Promise<ConversationHit[]> {
  const people = directory.named(query);
  if (!people.length || limit <= 0) return [];
  const wanted = new Set(people.map((p) => p.id));
  const hits: ConversationHit[] = [];
  for (const chat of await readChats(reader)) {
    if (found.has(chat.id)) continue;
    const match = chat.participants.map((h) => directory.contactFor(h)).find((c) => c && wanted.has(c.id));
    if (!match) continue;
    hits.push({ chatId: chat.id, title: chat.displayName || chat.participantNames.join(', ') || chat.identifier, matched: contactName(match) ?? '', lastMessageDate: chat.lastMessageDate });
  }
  hits.sort((a, b) => ((a.lastMessageDate ?? '') < (b.lastMessageDate ?? '') ? 1 : -1));
  return hits.slice(0, limit);
}

/** "+4915112345670, anna@example.com" → "Anna Meyer, anna@example.com": handles in a title shown as the people they are. */
function withNames(directory: ContactDirectory, title: string): string {
  return title
    .split(', ')
    .map((part) => directory.nameFor(part) ?? part)
    .join(', ');
}

export async function searchContent(reader: BackupReader, query: string, limit = 50): Promise<ContentSearchResults> {
  const directory = await contactDirectory(reader);
  const { messages, conversations } = await searchMessages(reader, query, limit);
  const byName = await conversationsWithContactsNamed(reader, directory, query.trim(), new Set(conversations.map((c) => c.chatId)), limit - conversations.length);
  const contacts = await searchContacts(reader, query, limit);
  return {
    messages: messages.map((m) => ({ ...m, chatTitle: withNames(directory, m.chatTitle), senderName: directory.nameFor(m.sender) })),
    conversations: [...conversations.map((c) => ({ ...c, title: withNames(directory, c.title) })), ...byName],
    contacts,
  };
}
