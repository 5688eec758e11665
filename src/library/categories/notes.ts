import { concatBytes } from '../../core/bytes.ts';
import { CorruptBackupError } from '../../core/errors.ts';
import type { BackupReader } from '../backup-reader.ts';
import { appleTime, int, text, withDatabase } from './common.ts';

export const NOTE_STORE = { domain: 'AppDomainGroup-group.com.apple.notes', relativePath: 'NoteStore.sqlite' } as const;

export interface Note {
  id: number;
  title: string | undefined;
  body: string;
  created: string | undefined;
  modified: string | undefined;
}

/** A note body far beyond any real one (a long note is a few hundred KiB): a gzip bomb, not text. */
const MAX_NOTE_PROTO_BYTES = 32 * 1024 * 1024;

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (cause) {
        throw new CorruptBackupError('A note body is damaged (its gzip data does not inflate).', cause);
      }
      if (next.done) break;
      total += next.value.byteLength;
      if (total > MAX_NOTE_PROTO_BYTES) throw new CorruptBackupError(`A note body inflates to more than ${MAX_NOTE_PROTO_BYTES / 1048576} MiB.`);
      parts.push(next.value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return concatBytes(parts);
}

function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length || shift > 63) throw new CorruptBackupError('A note body is damaged (bad protobuf varint).');
    const b = bytes[at++]!;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return [value, at];
  }
}

/** The length-delimited field `field` of a protobuf message (first occurrence), or undefined. */
function field(bytes: Uint8Array, wanted: number): Uint8Array | undefined {
  let at = 0;
  while (at < bytes.length) {
    let key: number;
    [key, at] = readVarint(bytes, at);
    const number = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) [, at] = readVarint(bytes, at);
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      let length: number;
      [length, at] = readVarint(bytes, at);
      if (at + length > bytes.length) throw new CorruptBackupError('A note body is damaged (protobuf field past the end).');
      if (number === wanted) return bytes.subarray(at, at + length);
      at += length;
    } else throw new CorruptBackupError(`A note body is damaged (protobuf wire type ${wire}).`);
  }
  return undefined;
}

/**
 * Note text from ZICNOTEDATA.ZDATA: gzip → NoteStoreProto; field 2 (Document) → field 3 (Note)
 * → field 2 (note_text). Formatting runs and attachments are ignored.
 */
export async function noteBodyText(zdata: Uint8Array): Promise<string> {
  const proto = zdata[0] === 0x1f && zdata[1] === 0x8b ? await gunzip(zdata) : zdata;
  const document = field(proto, 2);
  const note = document && field(document, 3);
  const body = note && field(note, 2);
  return body ? new TextDecoder().decode(body) : '';
}

export async function readNotes(reader: BackupReader): Promise<Note[]> {
  return withDatabase(reader, NOTE_STORE.domain, NOTE_STORE.relativePath, [] as Note[], async (_db, query, has, cols) => {
    if (!has('ZICNOTEDATA') || !has('ZICCLOUDSYNCINGOBJECT')) return [];
    const c = cols('ZICCLOUDSYNCINGOBJECT');
    // Column names carry a version suffix that moves between iOS releases.
    const pick = (...names: string[]) => names.find((n) => c.has(n));
    const title = pick('ZTITLE1', 'ZTITLE');
    const created = pick('ZCREATIONDATE3', 'ZCREATIONDATE1', 'ZCREATIONDATE');
    const modified = pick('ZMODIFICATIONDATE1', 'ZMODIFICATIONDATE');
    const rows = query(
      `SELECT n.Z_PK AS id, n.ZDATA AS data, ${title ? `o.${title}` : 'NULL'} AS title,
              ${created ? `o.${created}` : 'NULL'} AS created, ${modified ? `o.${modified}` : 'NULL'} AS modified
       FROM ZICNOTEDATA n LEFT JOIN ZICCLOUDSYNCINGOBJECT o ON o.Z_PK = n.ZNOTE ORDER BY n.Z_PK`,
    );
    const notes: Note[] = [];
    for (const r of rows) {
      const data = r['data'];
      let body = '';
      if (data instanceof Uint8Array && data.length) {
        try {
          body = await noteBodyText(data);
        } catch (cause) {
          body = `[This note could not be decoded: ${(cause as Error).message}]`;
        }
      }
      notes.push({ id: int(r['id']), title: text(r['title']) ?? body.split('\n')[0], body, created: appleTime(r['created']), modified: appleTime(r['modified']) });
    }
    return notes;
  });
}
