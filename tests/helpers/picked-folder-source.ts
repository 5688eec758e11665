import type { BackupSource } from '../../src/library/source/backup-source.ts';

/**
 * `source` as a picked folder's backup looks to the Library: its files can be read, streamed and had as
 * Blobs, but not read synchronously (only OPFS offers that), so a big Manifest.db goes through scratch.
 */
export function asPickedFolder(source: BackupSource): BackupSource {
  return {
    label: source.label,
    list: (p) => source.list(p),
    stat: (p) => source.stat(p),
    readFile: (p) => source.readFile(p),
    readRange: (p, s, e) => source.readRange(p, s, e),
    stream: (p, c) => source.stream(p, c),
    fileBlob: async (p) => (await source.fileBlob?.(p)) ?? null,
  };
}
