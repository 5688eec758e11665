import { sha1 } from '@noble/hashes/legacy.js';
import { toHex } from '../../dataset/dataset.ts';

const encoder = new TextEncoder();

/** Hex SHA-1 of a string's UTF-8 bytes, in JavaScript until a runtime installs a native one. */
let sha1Hex = (text: string): string => toHex(sha1(encoder.encode(text)));

/**
 * Installs a native hex SHA-1 (Node's `crypto.hash`): a 1.3M-file phone names every file in every
 * backup, and JavaScript SHA-1 made that 20 s of a backup's planning, ten times the native cost.
 */
export function useSha1Hex(native: (text: string) => string): void {
  sha1Hex = native;
}

/** fileID = hex SHA-1 of "domain-relativePath", the name of a payload file in a backup. */
export function fileIdFor(domain: string, relativePath: string): string {
  return sha1Hex(`${domain}-${relativePath}`);
}

/** `<udid>/<xx>/<fileID>` (optionally inside Snapshot/). */
export function payloadPath(udid: string, fileId: string, snapshot = false): string {
  return `${udid}/${snapshot ? 'Snapshot/' : ''}${fileId.slice(0, 2)}/${fileId}`;
}

export const MANIFEST_FLAGS = { file: 1, dir: 2, symlink: 4 } as const;
