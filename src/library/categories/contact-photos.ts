import type { BackupReader } from '../backup-reader.ts';
import { int, withDatabase } from './common.ts';

export const ADDRESS_BOOK_IMAGES = { domain: 'HomeDomain', relativePath: 'Library/AddressBook/AddressBookImages.sqlitedb' } as const;

/**
 * Contact pictures from AddressBookImages.sqlitedb, by ABPerson ROWID: the full-size image when
 * there is one (ABFullSizeImage), else the largest thumbnail (ABThumbnailImage). `ids` limits the
 * read to those contacts (one vCard); without it every contact's picture is read.
 */
export async function readContactPhotos(reader: BackupReader, ids?: number[]): Promise<Map<number, Uint8Array>> {
  const photos = new Map<number, Uint8Array>();
  if (ids && ids.length === 0) return photos;
  return withDatabase(reader, ADDRESS_BOOK_IMAGES.domain, ADDRESS_BOOK_IMAGES.relativePath, photos, (_db, query, has, cols) => {
    const only = ids ? `AND record_id IN (${ids.map((id) => Math.trunc(id)).join(',')})` : '';
    // Thumbnails first, smallest to largest, then full-size images, so the best one is set last.
    if (has('ABThumbnailImage') && cols('ABThumbnailImage').has('data')) {
      for (const r of query(`SELECT record_id, data FROM ABThumbnailImage WHERE data IS NOT NULL ${only} ORDER BY length(data)`)) {
        if (r['data'] instanceof Uint8Array && r['data'].length) photos.set(int(r['record_id']), r['data']);
      }
    }
    if (has('ABFullSizeImage') && cols('ABFullSizeImage').has('data')) {
      for (const r of query(`SELECT record_id, data FROM ABFullSizeImage WHERE data IS NOT NULL ${only} ORDER BY length(data)`)) {
        if (r['data'] instanceof Uint8Array && r['data'].length) photos.set(int(r['record_id']), r['data']);
      }
    }
    return photos;
  });
}

/** The image type a vCard names (TYPE=…) and a browser needs, from the picture's first bytes. */
export function imageTypeOf(bytes: Uint8Array): { vcardType: string; mimeType: string } | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return { vcardType: 'JPEG', mimeType: 'image/jpeg' };
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return { vcardType: 'PNG', mimeType: 'image/png' };
  if (bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46) return { vcardType: 'GIF', mimeType: 'image/gif' };
  const brand = new TextDecoder().decode(bytes.subarray(4, 12));
  if (brand.startsWith('ftyphei') || brand.startsWith('ftypmif1')) return { vcardType: 'HEIC', mimeType: 'image/heic' };
  return undefined;
}
