import type { BackupReader } from '../backup-reader.ts';
import { attributedBodyText } from './attributed-body.ts';
import { appleTime, int, mimeFromName, text, withSharedDatabase } from './common.ts';
import { contactDirectory } from './contact-names.ts';

export const SMS_DB = { domain: 'HomeDomain', relativePath: 'Library/SMS/sms.db' } as const;

export interface Chat {
  id: number;
  identifier: string;
  displayName: string | undefined;
  service: string | undefined;
  participants: string[];
  /** Each participant as the person knows them: the matching contact's name, else the handle itself. */
  participantNames: string[];
  messageCount: number;
  lastMessageDate: string | undefined;
}

export interface MessageAttachment {
  id: number;
  name: string;
  mimeType: string;
  size: number;
  /** The backup row holding the attachment's bytes, when the backup has it. */
  fileID: string | undefined;
}

export interface Message {
  id: number;
  chatId: number;
  /** `message.text`, or when that is empty (iOS 16+ often), the text archived in `attributedBody`. */
  text: string | undefined;
  date: string | undefined;
  isFromMe: boolean;
  /** Handle (phone number or email) of the sender; undefined for messages from me. */
  sender: string | undefined;
  /** The sender's contact name, when the handle matches a contact. */
  senderName: string | undefined;
  service: string | undefined;
  attachments: MessageAttachment[];
}

export async function readChats(reader: BackupReader): Promise<Chat[]> {
  const directory = await contactDirectory(reader);
  return withSharedDatabase(reader, SMS_DB.domain, SMS_DB.relativePath, [] as Chat[], (_db, query, has) => {
    if (!has('chat')) return [];
    const participants = new Map<number, string[]>();
    if (has('chat_handle_join') && has('handle')) {
      for (const r of query('SELECT chj.chat_id AS chat, h.id AS handle FROM chat_handle_join chj JOIN handle h ON h.ROWID = chj.handle_id')) {
        const list = participants.get(int(r['chat'])) ?? [];
        list.push(String(r['handle']));
        participants.set(int(r['chat']), list);
      }
    }
    const stats = new Map<number, { n: number; last: unknown }>();
    if (has('chat_message_join') && has('message')) {
      for (const r of query(
        'SELECT cmj.chat_id AS chat, count(*) AS n, max(m.date) AS last FROM chat_message_join cmj JOIN message m ON m.ROWID = cmj.message_id GROUP BY cmj.chat_id',
      )) {
        stats.set(int(r['chat']), { n: int(r['n']), last: r['last'] });
      }
    }
    return query('SELECT ROWID AS id, chat_identifier, display_name, service_name FROM chat ORDER BY ROWID').map((r) => ({
      id: int(r['id']),
      identifier: text(r['chat_identifier']) ?? '',
      displayName: text(r['display_name']) || undefined,
      service: text(r['service_name']),
      participants: participants.get(int(r['id'])) ?? [],
      participantNames: (participants.get(int(r['id'])) ?? []).map((h) => directory.nameFor(h) ?? h),
      messageCount: stats.get(int(r['id']))?.n ?? 0,
      lastMessageDate: appleTime(stats.get(int(r['id']))?.last),
    }));
  });
}

/** `~/Library/SMS/Attachments/…` (device path) → the backup row that holds it. */
function attachmentFileID(reader: BackupReader, devicePath: string | undefined): string | undefined {
  if (!devicePath) return undefined;
  const relative = devicePath.replace(/^~\//, '').replace(/^\/var\/mobile\//, '').replace(/^\/private\/var\/mobile\//, '');
  for (const domain of ['HomeDomain', 'MediaDomain']) {
    const entry = reader.manifest.find(domain, relative);
    if (entry) return entry.fileID;
  }
  return undefined;
}

/** What a message says: its `text`, else the string archived in its `attributedBody`, else undefined. */
export function messageText(textValue: unknown, attributedBody: unknown): string | undefined {
  const plain = text(textValue);
  if (plain) return plain;
  const archived = attributedBody instanceof Uint8Array ? attributedBodyText(attributedBody) : null;
  return archived || plain;
}

export async function readMessages(reader: BackupReader, chatId: number): Promise<Message[]> {
  const directory = await contactDirectory(reader);
  return withSharedDatabase(reader, SMS_DB.domain, SMS_DB.relativePath, [] as Message[], (_db, query, has, cols) => {
    if (!has('message') || !has('chat_message_join')) return [];
    const attachments = new Map<number, MessageAttachment[]>();
    if (has('attachment') && has('message_attachment_join')) {
      for (const r of query(
        `SELECT maj.message_id AS message, a.ROWID AS id, a.filename, a.transfer_name, a.mime_type, a.total_bytes
         FROM message_attachment_join maj JOIN attachment a ON a.ROWID = maj.attachment_id
         JOIN chat_message_join cmj ON cmj.message_id = maj.message_id WHERE cmj.chat_id = ?`,
        [chatId],
      )) {
        const devicePath = text(r['filename']);
        const name = text(r['transfer_name']) ?? devicePath?.split('/').pop() ?? 'attachment';
        const list = attachments.get(int(r['message'])) ?? [];
        list.push({
          id: int(r['id']),
          name,
          mimeType: text(r['mime_type']) ?? mimeFromName(name),
          size: int(r['total_bytes']),
          fileID: attachmentFileID(reader, devicePath),
        });
        attachments.set(int(r['message']), list);
      }
    }
    const handleJoin = has('handle') ? 'LEFT JOIN handle h ON h.ROWID = m.handle_id' : '';
    const handleCol = has('handle') ? 'h.id AS sender' : 'NULL AS sender';
    // The blob only where it is needed: most rows still carry their text as text.
    const bodyCol = cols('message').has('attributedBody')
      ? "CASE WHEN m.text IS NULL OR m.text = '' THEN m.attributedBody END AS body"
      : 'NULL AS body';
    return query(
      `SELECT m.ROWID AS id, m.text, ${bodyCol}, m.date, m.is_from_me, m.service, ${handleCol}
       FROM chat_message_join cmj JOIN message m ON m.ROWID = cmj.message_id ${handleJoin}
       WHERE cmj.chat_id = ? ORDER BY m.date, m.ROWID`,
      [chatId],
    ).map((r) => ({
      id: int(r['id']),
      chatId,
      text: messageText(r['text'], r['body']),
      date: appleTime(r['date']),
      isFromMe: int(r['is_from_me']) === 1,
      sender: int(r['is_from_me']) === 1 ? undefined : text(r['sender']),
      senderName: int(r['is_from_me']) === 1 ? undefined : directory.nameFor(text(r['sender'])),
      service: text(r['service']),
      attachments: attachments.get(int(r['id'])) ?? [],
    }));
  });
}

export async function countMessages(reader: BackupReader): Promise<number> {
  return withSharedDatabase(reader, SMS_DB.domain, SMS_DB.relativePath, 0, (_db, query, has) =>
    has('message') ? int(query('SELECT count(*) AS n FROM message')[0]?.['n']) : 0,
  );
}
