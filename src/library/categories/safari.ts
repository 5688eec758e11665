import type { BackupReader } from '../backup-reader.ts';
import { appleTime, int, text, withDatabase } from './common.ts';

export const SAFARI_HISTORY = { domain: 'HomeDomain', relativePath: 'Library/Safari/History.db' } as const;
export const SAFARI_BOOKMARKS = { domain: 'HomeDomain', relativePath: 'Library/Safari/Bookmarks.db' } as const;

export interface HistoryVisit {
  id: number;
  url: string;
  title: string | undefined;
  date: string | undefined;
  visitCount: number;
}

export interface Bookmark {
  id: number;
  parentId: number;
  title: string;
  url: string | undefined;
  isFolder: boolean;
}

export async function readSafariHistory(reader: BackupReader, limit = 10_000): Promise<HistoryVisit[]> {
  return withDatabase(reader, SAFARI_HISTORY.domain, SAFARI_HISTORY.relativePath, [] as HistoryVisit[], (_db, query, has) => {
    if (!has('history_items') || !has('history_visits')) return [];
    return query(
      `SELECT v.id, i.url, v.title, v.visit_time, i.visit_count FROM history_visits v
       JOIN history_items i ON i.id = v.history_item ORDER BY v.visit_time DESC LIMIT ?`,
      [limit],
    ).map((r) => ({
      id: int(r['id']),
      url: text(r['url']) ?? '',
      title: text(r['title']) || undefined,
      date: appleTime(r['visit_time']),
      visitCount: int(r['visit_count']),
    }));
  });
}

export async function readSafariBookmarks(reader: BackupReader): Promise<Bookmark[]> {
  return withDatabase(reader, SAFARI_BOOKMARKS.domain, SAFARI_BOOKMARKS.relativePath, [] as Bookmark[], (_db, query, has) => {
    if (!has('bookmarks')) return [];
    return query('SELECT id, parent, type, title, url FROM bookmarks ORDER BY parent, order_index, id').map((r) => ({
      id: int(r['id']),
      parentId: int(r['parent']),
      title: text(r['title']) ?? '',
      url: text(r['url']) || undefined,
      isFolder: int(r['type']) === 1,
    }));
  });
}
