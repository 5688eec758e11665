import { sha1 } from '@noble/hashes/legacy.js';
import { toHex } from '../../dataset/dataset.ts';

/**
 * fileIDs already computed: every backup (and Manifest.db) names every file, and hashing them all
 * again each time is host CPU a real device spends on its own. Bounded: past it, start over.
 */
const fileIds = new Map<string, string>();
const FILE_ID_CACHE_SIZE = 1 << 18;
const encoder = new TextEncoder();

/** fileID = hex SHA-1 of "domain-relativePath", the name of a payload file in a backup. */
export function fileIdFor(domain: string, relativePath: string): string {
  const key = `${domain}-${relativePath}`;
  let id = fileIds.get(key);
  if (id === undefined) {
    id = toHex(sha1(encoder.encode(key)));
    if (fileIds.size >= FILE_ID_CACHE_SIZE) fileIds.clear();
    fileIds.set(key, id);
  }
  return id;
}

/** `<udid>/<xx>/<fileID>` (optionally inside Snapshot/). */
export function payloadPath(udid: string, fileId: string, snapshot = false): string {
  return `${udid}/${snapshot ? 'Snapshot/' : ''}${fileId.slice(0, 2)}/${fileId}`;
}

export const MANIFEST_FLAGS = { file: 1, dir: 2, symlink: 4 } as const;
