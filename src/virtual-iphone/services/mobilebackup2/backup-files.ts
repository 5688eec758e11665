import { sha1 } from '@noble/hashes/legacy.js';
import { toHex } from '../../dataset/dataset.ts';

/** fileID = hex SHA-1 of "domain-relativePath", the name of a payload file in a backup. */
export function fileIdFor(domain: string, relativePath: string): string {
  return toHex(sha1(new TextEncoder().encode(`${domain}-${relativePath}`)));
}

/** `<udid>/<xx>/<fileID>` (optionally inside Snapshot/). */
export function payloadPath(udid: string, fileId: string, snapshot = false): string {
  return `${udid}/${snapshot ? 'Snapshot/' : ''}${fileId.slice(0, 2)}/${fileId}`;
}

export const MANIFEST_FLAGS = { file: 1, dir: 2, symlink: 4 } as const;
