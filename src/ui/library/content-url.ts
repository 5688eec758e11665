import { encodeBase64 } from '../../plist/base64.ts';

/**
 * Types a browser shows without running script even when the URL is opened on its own (a new tab,
 * "Open image in new tab"): a blob: URL is of this origin, so an HTML or SVG document behind one
 * would run with access to the pairing keys and backups. The type comes from the backup (sms.db's
 * mime_type, a file name), so it is never trusted beyond this list.
 */
const INERT_TYPE = /^(image\/(jpeg|png|gif|webp|avif|bmp|heic|heif|tiff)|audio\/[\w.+-]+|video\/[\w.+-]+)$/i;

/**
 * A URL for backup bytes shown by <img>, <audio> or <video>. SVG becomes a data: URL (a document
 * opened from one has an opaque origin, not ours); anything else outside INERT_TYPE is labelled
 * application/octet-stream, which a tab downloads instead of rendering. Revoke with URL.revokeObjectURL
 * (a no-op for data: URLs).
 */
export function contentUrl(bytes: Uint8Array, mime: string): string {
  const type = mime.trim().toLowerCase();
  if (type === 'image/svg+xml') return `data:image/svg+xml;base64,${encodeBase64(bytes)}`;
  return URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: INERT_TYPE.test(type) ? type : 'application/octet-stream' }));
}
