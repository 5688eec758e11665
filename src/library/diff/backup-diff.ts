import type { BackupReader } from '../backup-reader.ts';
import { BackupLockedError } from '../errors.ts';
import { loadSqlite } from '../sqlite.ts';
import { diffContents, type ContentDiff } from './content-diff.ts';
import { FILE_CATEGORY_LABELS, type FileCategory } from './file-category.ts';
import { diffManifests, type ManifestDiff } from './manifest-diff.ts';

/** Everything "What changed" shows: the files, and what they mean. */
export interface BackupDiff {
  files: ManifestDiff;
  contents: ContentDiff;
  /** Bytes of files in the later backup minus the earlier one. */
  sizeChange: number;
}

/** Files only: cheap at a million rows (one merge over the two Manifest.db). */
export async function diffBackupFiles(older: BackupReader, newer: BackupReader): Promise<ManifestDiff> {
  if (older.locked || newer.locked) throw new BackupLockedError();
  const sqlite3 = await loadSqlite();
  return diffManifests(sqlite3, older.manifest.db, newer.manifest.db);
}

export async function diffBackups(older: BackupReader, newer: BackupReader): Promise<BackupDiff> {
  const files = await diffBackupFiles(older, newer);
  const contents = await diffContents(older, newer);
  return { files, contents, sizeChange: files.newTotals.totalSize - files.oldTotals.totalSize };
}

/** One line of the CLI's --json output. */
export interface JsonDiffEntry {
  domain: string;
  relativePath: string;
  kind: string;
  size?: number;
  oldSize?: number;
  newSize?: number;
}

/** The `diff --json` document: files added, removed and modified, probable renames, and a summary per category. */
export function diffToJson(diff: ManifestDiff): {
  added: JsonDiffEntry[];
  removed: JsonDiffEntry[];
  modified: JsonDiffEntry[];
  renamed: { from: JsonDiffEntry; to: JsonDiffEntry }[];
  categories: Record<string, { label: string; added: number; removed: number; modified: number; sizeChange: number }>;
  sizeChange: number;
} {
  const categories: Record<string, { label: string; added: number; removed: number; modified: number; sizeChange: number }> = {};
  for (const [id, t] of Object.entries(diff.byCategory)) {
    categories[id] = {
      label: FILE_CATEGORY_LABELS[id as FileCategory],
      added: t.added,
      removed: t.removed,
      modified: t.modified,
      sizeChange: t.addedBytes - t.removedBytes + t.modifiedDelta,
    };
  }
  return {
    added: diff.added.map((e) => ({ domain: e.domain, relativePath: e.relativePath, kind: e.kind, size: e.size })),
    removed: diff.removed.map((e) => ({ domain: e.domain, relativePath: e.relativePath, kind: e.kind, size: e.size })),
    modified: diff.modified.map((e) => ({ domain: e.domain, relativePath: e.relativePath, kind: e.kind, oldSize: e.oldSize, newSize: e.newSize })),
    renamed: diff.renamed.map(({ from, to }) => ({
      from: { domain: from.domain, relativePath: from.relativePath, kind: from.kind, size: from.size },
      to: { domain: to.domain, relativePath: to.relativePath, kind: to.kind, size: to.size },
    })),
    categories,
    sizeChange: diff.newTotals.totalSize - diff.oldTotals.totalSize,
  };
}
