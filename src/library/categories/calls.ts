import type { BackupReader } from '../backup-reader.ts';
import { appleTime, int, text, withDatabase } from './common.ts';
import { contactDirectory } from './contact-names.ts';

export const CALL_HISTORY = { domain: 'HomeDomain', relativePath: 'Library/CallHistoryDB/CallHistory.storedata' } as const;

export interface CallRecord {
  id: number;
  address: string | undefined;
  name: string | undefined;
  /** The contact the number belongs to, when it matches one (ZNAME is often empty). */
  contactName: string | undefined;
  date: string | undefined;
  durationSeconds: number;
  direction: 'outgoing' | 'incoming';
  answered: boolean;
  /** 1 phone, 8 FaceTime video, 16 FaceTime audio (ZCALLTYPE). */
  callType: number;
}

export async function readCalls(reader: BackupReader): Promise<CallRecord[]> {
  const directory = await contactDirectory(reader);
  return withDatabase(reader, CALL_HISTORY.domain, CALL_HISTORY.relativePath, [] as CallRecord[], (_db, query, has, cols) => {
    if (!has('ZCALLRECORD')) return [];
    const c = cols('ZCALLRECORD');
    const col = (name: string) => (c.has(name) ? name : `NULL AS ${name}`);
    return query(
      `SELECT Z_PK, ${col('ZADDRESS')}, ${col('ZNAME')}, ${col('ZDATE')}, ${col('ZDURATION')}, ${col('ZORIGINATED')},
              ${col('ZANSWERED')}, ${col('ZCALLTYPE')} FROM ZCALLRECORD ORDER BY ZDATE DESC`,
    ).map((r) => {
      // ZADDRESS is a BLOB on some iOS versions.
      const address = r['ZADDRESS'] instanceof Uint8Array ? new TextDecoder().decode(r['ZADDRESS']) : text(r['ZADDRESS']);
      return {
        id: int(r['Z_PK']),
        address,
        name: text(r['ZNAME']) || undefined,
        contactName: directory.nameFor(address),
        date: appleTime(r['ZDATE']),
        durationSeconds: Number(r['ZDURATION'] ?? 0),
        direction: int(r['ZORIGINATED']) === 1 ? 'outgoing' : 'incoming',
        answered: int(r['ZANSWERED']) === 1,
        callType: int(r['ZCALLTYPE']),
      };
    });
  });
}
