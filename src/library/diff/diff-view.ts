import type { BackupDiff } from './backup-diff.ts';
import type { ContentDiff } from './content-diff.ts';
import { FILE_CATEGORY_LABELS, type FileCategory } from './file-category.ts';
import type { ChangeTally, DiffEntry, ModifiedEntry, ProbableRename } from './manifest-diff.ts';

/** Rows of each file list sent to the page at first; the counts say how many there are. */
export const FIRST_VIEW_ROWS = 300;

export interface TallyRow extends ChangeTally {
  /** A domain name, or a category id. */
  id: string;
  label: string;
  sizeChange: number;
}

/** "What changed" as the page shows it: structured-clonable, and small however big the diff is. */
export interface DiffView {
  /** Which backup holds what was removed: the one open in the Library, or the one it is compared with. */
  removedHeldBy: 'open' | 'compared';
  /** Likewise for what was added (always the other one). */
  addedHeldBy: 'open' | 'compared';
  counts: { added: number; removed: number; modified: number; unchanged: number };
  /** Files only (folders are counted in byDomain/byCategory), the first FIRST_VIEW_ROWS of each. */
  added: DiffEntry[];
  removed: DiffEntry[];
  modified: ModifiedEntry[];
  renamed: ProbableRename[];
  byCategory: TallyRow[];
  byDomain: TallyRow[];
  sizeChange: number;
  oldFileCount: number;
  newFileCount: number;
  contents: ContentDiff;
}

function rows(tallies: Record<string, ChangeTally>, label: (id: string) => string): TallyRow[] {
  return Object.entries(tallies)
    .map(([id, t]) => ({ id, label: label(id), ...t, sizeChange: t.addedBytes - t.removedBytes + t.modifiedDelta }))
    .sort((a, b) => b.added + b.removed + b.modified - (a.added + a.removed + a.modified) || (a.label < b.label ? -1 : 1));
}

export function toDiffView(diff: BackupDiff, removedHeldBy: 'open' | 'compared'): DiffView {
  const { files } = diff;
  const onlyFiles = <T extends { kind: string }>(list: T[]) => list.filter((e) => e.kind !== 'directory');
  const added = onlyFiles(files.added);
  const removed = onlyFiles(files.removed);
  return {
    removedHeldBy,
    addedHeldBy: removedHeldBy === 'open' ? 'compared' : 'open',
    counts: { added: added.length, removed: removed.length, modified: files.modified.length, unchanged: files.unchanged },
    added: added.slice(0, FIRST_VIEW_ROWS),
    removed: removed.slice(0, FIRST_VIEW_ROWS),
    modified: files.modified.slice(0, FIRST_VIEW_ROWS),
    renamed: files.renamed.slice(0, FIRST_VIEW_ROWS),
    byCategory: rows(files.byCategory as Record<string, ChangeTally>, (id) => FILE_CATEGORY_LABELS[id as FileCategory] ?? id),
    byDomain: rows(files.byDomain, (id) => id),
    sizeChange: diff.sizeChange,
    oldFileCount: files.oldTotals.fileCount,
    newFileCount: files.newTotals.fileCount,
    contents: diff.contents,
  };
}
