import type { BackupReader } from '../backup-reader.ts';
import { mimeFromName } from './common.ts';

/** A photo, video or recording in the backup; bytes come from reader.readFile(fileID). */
export interface MediaItem {
  fileID: string;
  domain: string;
  relativePath: string;
  name: string;
  mimeType: string;
  size: number;
  modified: string | undefined;
}

function toItem(reader: BackupReader, e: { fileID: string; domain: string; relativePath: string; name: string }): MediaItem {
  const md = reader.manifest.metadata(e.fileID);
  return {
    fileID: e.fileID,
    domain: e.domain,
    relativePath: e.relativePath,
    name: e.name,
    mimeType: mimeFromName(e.name),
    size: md?.size ?? 0,
    modified: md && md.lastModified > 0 ? new Date(md.lastModified * 1000).toISOString() : undefined,
  };
}

const THUMBNAILS = 'Media/PhotoData/Thumbnails/V2/';

/**
 * The iPhone's own JPEG thumbnails, keyed by the photo's path: for Media/DCIM/100APPLE/IMG_0011.HEIC
 * it keeps Media/PhotoData/Thumbnails/V2/DCIM/100APPLE/IMG_0011.HEIC/<n>.JPG (one or more sizes; the
 * largest wins). This is how HEIC photos and videos get a picture in a browser that cannot decode them.
 */
export function readPhotoThumbnails(reader: BackupReader): Map<string, string> {
  const best = new Map<string, { fileID: string; size: number }>();
  for (const e of reader.manifest.findUnder('CameraRollDomain', THUMBNAILS)) {
    if (e.kind !== 'file' || !/\.jpe?g$/i.test(e.name)) continue;
    const photo = `Media/${e.relativePath.slice(THUMBNAILS.length, e.relativePath.length - e.name.length - 1)}`;
    const size = reader.manifest.metadata(e.fileID)?.size ?? 0;
    const seen = best.get(photo);
    if (!seen || size > seen.size) best.set(photo, { fileID: e.fileID, size });
  }
  return new Map([...best].map(([photo, t]) => [photo, t.fileID]));
}

/** Camera roll files (Media/DCIM/…); Photos.sqlite is metadata only, the pictures are these files. */
export function readPhotos(reader: BackupReader): MediaItem[] {
  return reader.manifest
    .findUnder('CameraRollDomain', 'Media/DCIM/')
    .filter((e) => e.kind === 'file')
    .map((e) => toItem(reader, e))
    .filter((m) => m.mimeType.startsWith('image/') || m.mimeType.startsWith('video/'));
}

/** Voice memos: audio under MediaDomain Media/Recordings/. */
export function readVoiceMemos(reader: BackupReader): MediaItem[] {
  return reader.manifest
    .findUnder('MediaDomain', 'Media/Recordings/')
    .filter((e) => e.kind === 'file')
    .map((e) => toItem(reader, e))
    .filter((m) => m.mimeType.startsWith('audio/'));
}
