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
