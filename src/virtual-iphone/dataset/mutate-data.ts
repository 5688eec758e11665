import { encodeAttributedBody } from './attributed-body.ts';
import { editDatabaseSync } from './sqlite.ts';

/**
 * What days of use do to the phone's own databases, for Dataset.mutate(): messages arrive, a
 * contact is renamed and one added, a photo is taken and one deleted. Each returns the new file
 * image and leaves the input untouched.
 */

const APPLE_EPOCH = 978307200;

function appleNanos(unixSeconds: number): bigint {
  return BigInt(unixSeconds - APPLE_EPOCH) * 1_000_000_000n;
}

/** `count` new messages in the first conversation; returns the new sms.db and that conversation's chat_identifier. */
export function smsWithNewMessages(sms: Uint8Array, generation: number, count: number, when: number): { bytes: Uint8Array; chat: string } {
  let identifier = '';
  const bytes = editDatabaseSync(sms, (db) => {
    const chat = Number(db.selectValue('SELECT min(ROWID) FROM chat'));
    identifier = String(db.selectValue('SELECT chat_identifier FROM chat WHERE ROWID = ?', [chat]) ?? '');
    const handle = Number(db.selectValue('SELECT handle_id FROM chat_handle_join WHERE chat_id = ? LIMIT 1', [chat]) ?? 0);
    const service = String(db.selectValue('SELECT service_name FROM chat WHERE ROWID = ?', [chat]) ?? 'iMessage');
    for (let i = 0; i < count; i++) {
      const said = i % 2 ? `Back home now (${generation}.${i})` : `Did you see the new photos? (${generation}.${i})`;
      const at = when + i * 60;
      db.exec({
        sql: `INSERT INTO message (guid, text, attributedBody, handle_id, service, date, date_read, date_delivered, is_delivered, is_finished, is_from_me, is_read, is_sent)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, 1, ?)`,
        bind: [`MUTATED-${generation}-${i}`, said, encodeAttributedBody(said), handle, service, appleNanos(at), appleNanos(at + 30), appleNanos(at + 2), i % 2, i % 2],
      });
      db.exec({ sql: 'INSERT INTO chat_message_join VALUES (?, last_insert_rowid(), ?)', bind: [chat, appleNanos(at)] });
    }
  });
  return { bytes, chat: identifier };
}

/** The first contact gets a new surname and a new person is added; returns the new AddressBook. */
export function addressBookWithChanges(addressBook: Uint8Array, generation: number): Uint8Array {
  return editDatabaseSync(addressBook, (db) => {
    db.exec({ sql: 'UPDATE ABPerson SET Last = ?, ModificationDate = ModificationDate + 1 WHERE ROWID = (SELECT min(ROWID) FROM ABPerson)', bind: [`Married-${generation}`] });
    db.exec({ sql: "INSERT INTO ABPerson (First, Last, Kind, CreationDate, ModificationDate) VALUES (?, 'Newcomer', 0, 800000000, 800000000)", bind: [`Nora${generation}`] });
    const person = Number(db.selectValue('SELECT last_insert_rowid()'));
    db.exec({ sql: 'INSERT INTO ABMultiValue (record_id, property, identifier, label, value) VALUES (?, 3, 0, 1, ?)', bind: [person, `+49 170 ${1000000 + generation}`] });
    db.exec({ sql: 'INSERT INTO ABMultiValue (record_id, property, identifier, label, value) VALUES (?, 4, 0, 2, ?)', bind: [person, `nora${generation}@example.com`] });
  });
}

/** Photos.sqlite with `added` photos (Media/… paths) and without `removed` ones. */
export function photosWithChanges(photos: Uint8Array, added: readonly string[], removed: readonly string[], when: number): Uint8Array {
  return editDatabaseSync(photos, (db) => {
    for (const path of removed) {
      const slash = path.lastIndexOf('/');
      db.exec({ sql: 'DELETE FROM ZASSET WHERE ZDIRECTORY = ? AND ZFILENAME = ?', bind: [path.slice('Media/'.length, slash), path.slice(slash + 1)] });
    }
    for (const path of added) {
      const slash = path.lastIndexOf('/');
      db.exec({
        sql: "INSERT INTO ZASSET (Z_ENT, Z_OPT, ZKIND, ZHEIGHT, ZWIDTH, ZDATECREATED, ZMODIFICATIONDATE, ZDIRECTORY, ZFILENAME, ZUNIFORMTYPEIDENTIFIER, ZUUID, ZFAVORITE, ZHIDDEN) VALUES (33, 1, 0, 240, 320, ?, ?, ?, ?, 'public.jpeg', ?, 0, 0)",
        bind: [when - APPLE_EPOCH, when - APPLE_EPOCH, path.slice('Media/'.length, slash), path.slice(slash + 1), `PHOTO-NEW-${path.slice(slash + 1)}`],
      });
    }
  });
}
