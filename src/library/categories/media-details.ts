/**
 * What the Photos and Voice Memos apps know about the files: Photos.sqlite (ZASSET, ZGENERICASSET
 * before iOS 14) gives when a picture was taken and whether it is a favourite or hidden;
 * CloudRecordings.db (ZCLOUDRECORDING) gives a recording's title, date and duration. Files the
 * databases do not mention keep what the file system says; a missing database is no error.
 */
import type { BackupReader } from '../backup-reader.ts';
import { appleTime, int, text, withDatabase } from './common.ts';
import { readPhotos, readPhotoThumbnails, readVoiceMemos, type MediaItem } from './media.ts';

export const PHOTOS_SQLITE = { domain: 'CameraRollDomain', relativePath: 'Media/PhotoData/Photos.sqlite' } as const;
export const CLOUD_RECORDINGS = { domain: 'MediaDomain', relativePath: 'Media/Recordings/CloudRecordings.db' } as const;

export interface PhotoItem extends MediaItem {
  /** When it was taken (ZDATECREATED), else undefined. */
  created: string | undefined;
  favorite: boolean;
  hidden: boolean;
  /** The iPhone's own JPEG thumbnail of it (Thumbnails/V2), when the backup has one: HEIC and videos show that. */
  thumbnailFileID: string | undefined;
}

export interface VoiceMemoItem extends MediaItem {
  /** The name given in Voice Memos (ZCUSTOMLABEL / ZENCRYPTEDTITLE), else undefined. */
  title: string | undefined;
  recorded: string | undefined;
  durationSeconds: number | undefined;
}

interface PhotoFacts {
  created: string | undefined;
  favorite: boolean;
  hidden: boolean;
}

export async function readPhotoLibrary(reader: BackupReader): Promise<PhotoItem[]> {
  const facts = await withDatabase(reader, PHOTOS_SQLITE.domain, PHOTOS_SQLITE.relativePath, new Map<string, PhotoFacts>(), (_db, query, has, cols) => {
    const table = ['ZASSET', 'ZGENERICASSET'].find(has);
    const byPath = new Map<string, PhotoFacts>();
    if (!table) return byPath;
    const c = cols(table);
    if (!c.has('ZDIRECTORY') || !c.has('ZFILENAME')) return byPath;
    const col = (name: string) => (c.has(name) ? name : `NULL AS ${name}`);
    for (const r of query(`SELECT ZDIRECTORY, ZFILENAME, ${col('ZDATECREATED')}, ${col('ZFAVORITE')}, ${col('ZHIDDEN')} FROM ${table}`)) {
      const directory = text(r['ZDIRECTORY']);
      const name = text(r['ZFILENAME']);
      if (!directory || !name) continue;
      byPath.set(`Media/${directory}/${name}`, { created: appleTime(r['ZDATECREATED']), favorite: int(r['ZFAVORITE']) === 1, hidden: int(r['ZHIDDEN']) === 1 });
    }
    return byPath;
  });
  const thumbnails = readPhotoThumbnails(reader);
  return readPhotos(reader).map((item) => {
    const f = facts.get(item.relativePath);
    return { ...item, created: f?.created, favorite: f?.favorite ?? false, hidden: f?.hidden ?? false, thumbnailFileID: thumbnails.get(item.relativePath) };
  });
}

interface RecordingFacts {
  title: string | undefined;
  recorded: string | undefined;
  durationSeconds: number | undefined;
}

export async function readVoiceMemoLibrary(reader: BackupReader): Promise<VoiceMemoItem[]> {
  const facts = await withDatabase(reader, CLOUD_RECORDINGS.domain, CLOUD_RECORDINGS.relativePath, new Map<string, RecordingFacts>(), (_db, query, has, cols) => {
    const byName = new Map<string, RecordingFacts>();
    if (!has('ZCLOUDRECORDING')) return byName;
    const c = cols('ZCLOUDRECORDING');
    if (!c.has('ZPATH')) return byName;
    const col = (name: string) => (c.has(name) ? name : `NULL AS ${name}`);
    for (const r of query(`SELECT ZPATH, ${col('ZCUSTOMLABEL')}, ${col('ZENCRYPTEDTITLE')}, ${col('ZDATE')}, ${col('ZDURATION')} FROM ZCLOUDRECORDING`)) {
      // ZPATH is a bare file name on recent iOS and a full device path on older ones.
      const name = text(r['ZPATH'])?.split('/').pop();
      if (!name) continue;
      const duration = r['ZDURATION'];
      byName.set(name, {
        title: text(r['ZENCRYPTEDTITLE']) || text(r['ZCUSTOMLABEL']) || undefined,
        recorded: appleTime(r['ZDATE']),
        durationSeconds: typeof duration === 'number' && Number.isFinite(duration) ? duration : undefined,
      });
    }
    return byName;
  });
  return readVoiceMemos(reader).map((item) => {
    const f = facts.get(item.name);
    return { ...item, title: f?.title, recorded: f?.recorded, durationSeconds: f?.durationSeconds };
  });
}
