import type { CliCommand, ParsedArgs } from '../args.ts';
import { UsageError } from '../args.ts';
import { openBackupFolder } from '../../library/node/open.ts';
import { BackupLockedError } from '../../library/errors.ts';
import { diffBackupFiles, diffToJson } from '../../library/diff/backup-diff.ts';
import { FILE_CATEGORY_LABELS, type FileCategory } from '../../library/diff/file-category.ts';
import type { BackupReader } from '../../library/backup-reader.ts';

function bytes(n: number): string {
  const sign = n < 0 ? '-' : '+';
  const abs = Math.abs(n);
  if (abs < 1024) return `${sign}${abs} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = abs / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${sign}${v.toFixed(1)} ${units[u]}`;
}

export const diffCommand: CliCommand = {
  name: 'diff',
  summary: 'What changed between two backups (files added, removed, modified, by category and domain)',
  usage: [
    'usage: npm run cli -- diff OLD_DIR NEW_DIR [--password PW] [--json]',
    '',
    '  OLD_DIR, NEW_DIR  two backup folders (each holding Manifest.db) or the MobileSync Backup folder above one',
    '  --password PW     the backup password, for encrypted backups (used for both)',
    '  --json            print {"added": [...], "removed": [...], "modified": [...], "categories": {...}}',
    '',
    'Modified is judged from each file\'s recorded size, modification time and mode, not its content.',
  ].join('\n'),
  flags: ['json'],
  async run(args: ParsedArgs): Promise<number> {
    const [oldDir, newDir] = args.positionals;
    if (!oldDir || !newDir) throw new UsageError('diff needs two backup folders: the earlier one, then the later one');
    const password = args.string('password');
    const readers: BackupReader[] = [];
    try {
      for (const dir of [oldDir, newDir]) {
        const reader = await openBackupFolder(dir, password);
        readers.push(reader);
        if (reader.locked) throw new BackupLockedError();
      }
      const diff = await diffBackupFiles(readers[0]!, readers[1]!);
      if (args.flag('json')) {
        args.io.out(`${JSON.stringify(diffToJson(diff), null, 2)}\n`);
        return 0;
      }
      const out = args.io.out;
      out(`${diff.added.length} added, ${diff.removed.length} removed, ${diff.modified.length} modified; ${diff.unchanged} unchanged\n`);
      out(`total size ${bytes(diff.newTotals.totalSize - diff.oldTotals.totalSize)} (${diff.oldTotals.fileCount} → ${diff.newTotals.fileCount} files)\n`);
      const tallyLine = (name: string, t: { added: number; removed: number; modified: number; addedBytes: number; removedBytes: number; modifiedDelta: number }) =>
        `  ${name}: +${t.added} -${t.removed} ~${t.modified} (${bytes(t.addedBytes - t.removedBytes + t.modifiedDelta)})\n`;
      out('\nby category\n');
      for (const [id, t] of Object.entries(diff.byCategory)) out(tallyLine(FILE_CATEGORY_LABELS[id as FileCategory], t));
      out('\nby domain\n');
      for (const [domain, t] of Object.entries(diff.byDomain).sort(([a], [b]) => (a < b ? -1 : 1))) out(tallyLine(domain, t));
      const path = (e: { domain: string; relativePath: string; kind: string }) =>
        `${e.relativePath === '' ? e.domain : `${e.domain}/${e.relativePath}`}${e.kind === 'directory' ? '/' : ''}`;
      if (diff.added.length) out('\nadded\n');
      for (const e of diff.added) out(`+ ${path(e)}\t${e.size}\n`);
      if (diff.removed.length) out('\nremoved\n');
      for (const e of diff.removed) out(`- ${path(e)}\t${e.size}\n`);
      if (diff.renamed.length) out('\nprobably renamed (same size and modification time)\n');
      for (const { from, to } of diff.renamed) out(`> ${path(from)} → ${path(to)}\n`);
      if (diff.modified.length) out('\nmodified\n');
      for (const e of diff.modified) out(`~ ${path(e)}\t${e.oldSize} → ${e.newSize}\t(${e.reasons.join(', ')})\n`);
      return 0;
    } finally {
      for (const r of readers) r.close();
    }
  },
};
