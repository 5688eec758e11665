/**
 * A generated corpus of hostile backups and zips: every way a name from someone else's backup could
 * reach outside the folder it is written to, next to the ordinary rows that must still come out.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBackup, fileIdOf, type GeneratedBackup, type GeneratedFile } from '../library/backup-generator.ts';
import { MemorySink } from '../../src/library/export/byte-sink.ts';
import { ZipWriter } from '../../src/library/export/zip-writer.ts';
import type { RefusalReason } from '../../src/core/confined-path.ts';

export const APP = 'AppDomain-com.example.app';
export const UDID = '00008110-000TEST';
const text = (s: string) => new TextEncoder().encode(s);

export interface HostileRow {
  row: GeneratedFile;
  /** How the row is shown in warnings: `<domain>/<relativePath>`. */
  shown: string;
  reason: RefusalReason;
}

/** Rows that must be refused, each with the reason; `outside` is a folder a link points at. */
export function hostileRows(outside: string): HostileRow[] {
  const file = (domain: string, relativePath: string, reason: RefusalReason): HostileRow => ({
    row: { domain, relativePath, kind: 'file', content: text(`escaped via ${reason}\n`) },
    shown: `${domain}/${relativePath}`,
    reason,
  });
  return [
    file('HomeDomain', '../../escaped-dotdot.txt', 'parent'),
    file('HomeDomain', 'Library/../../../escaped-inner-dotdot.txt', 'parent'),
    file('HomeDomain', '/tmp/escaped-absolute.txt', 'absolute'),
    file('..', 'escaped-domain.txt', 'parent'),
    file('Home/../..', 'escaped-domain-slash.txt', 'parent'),
    file('HomeDomain', 'Library\\..\\..\\escaped-backslash.txt', 'backslash'),
    file('HomeDomain', 'Library/escaped\0nul.txt', 'nul'),
    // A link to a folder elsewhere and a row through it (the reported bug); a relative link climbing out.
    file('HomeDomain', 'Library/Evil/escaped-through-link.txt', 'through-symlink'),
    file('HomeDomain', 'Library/Evil/deeper/escaped-through-link.txt', 'through-symlink'),
    file('HomeDomain', 'Library/Up/escaped-relative-link.txt', 'through-symlink'),
    // Case and Unicode twins of rows in `benignTwins`: one of each pair is refused.
    file(APP, 'Documents/Notes.txt', 'collision'),
    file(APP, 'Documents/caf\u00e9.txt', 'collision'),
  ];
}

/** Links the hostile rows run through; they themselves are written, as links. */
export function hostileLinks(outside: string): GeneratedFile[] {
  return [
    { domain: 'HomeDomain', relativePath: 'Library/Evil', kind: 'symlink', target: outside },
    { domain: 'HomeDomain', relativePath: 'Library/Up', kind: 'symlink', target: '../../../../../../../..' + outside },
  ];
}

/** The first of each twin pair in Manifest.db's (domain, relativePath) order, written normally. */
export function benignTwins(): GeneratedFile[] {
  return [
    { domain: APP, relativePath: 'Documents/NOTES.txt', kind: 'file', content: text('the real notes\n') },
    { domain: APP, relativePath: 'Documents/cafe\u0301.txt', kind: 'file', content: text('the real café\n') },
  ];
}

export interface HostileBackup {
  backup: GeneratedBackup;
  outside: string;
  hostile: HostileRow[];
  /** A row whose fileID was rewritten to climb out of the backup folder (payload read and copy must refuse it). */
  badFileId: { shown: string; fileID: string };
}

/**
 * A backup holding the standard rows, the twins, the links and the hostile rows.
 */
export async function hostileBackup(): Promise<HostileBackup> {
  const outside = await mkdtemp(join(tmpdir(), 'lifeboat-outside-'));
  const hostile = hostileRows(outside);
  const backup = await generateBackup({ extra: [...benignTwins(), ...hostileLinks(outside), ...hostile.map((h) => h.row)] });
  // A row whose fileID (from Manifest.db, so hostile too) names a path outside the backup.
  const victim = 'Documents/block.bin';
  const fileID = '../../../escaped-fileid';
  execFileSync('sqlite3', [join(backup.dir, 'Manifest.db'), `UPDATE Files SET fileID = '${fileID}' WHERE fileID = '${fileIdOf(APP, victim)}'; PRAGMA journal_mode=DELETE;`]);
  return { backup, outside, hostile, badFileId: { shown: `${APP}/${victim}`, fileID } };
}

/** Zip entry names that must never be listed, each with its reason; the rest of the zip is a real backup. */
export const HOSTILE_ZIP_NAMES: { name: string; reason: RefusalReason }[] = [
  { name: '../escaped-zip.txt', reason: 'parent' },
  { name: 'Backup/../../escaped-zip-inner.txt', reason: 'parent' },
  { name: '/tmp/escaped-zip-absolute.txt', reason: 'absolute' },
  { name: 'C:/escaped-zip-drive.txt', reason: 'absolute' },
  { name: 'Backup\\..\\..\\escaped-zip-backslash.txt', reason: 'backslash' },
  { name: 'Backup/escaped\0nul.txt', reason: 'nul' },
  { name: `Backup/${UDID}/Info.plist`, reason: 'collision' }, // a second Info.plist
  { name: `Backup/${UDID}/Manifest.db/inner.txt`, reason: 'collision' }, // a file used as a folder
];

/** The backup folder zipped as `Backup/<UDID>/…`, with the hostile entries interleaved. */
export async function hostileZip(backupDir: string): Promise<Uint8Array> {
  const { readdir, readFile } = await import('node:fs/promises');
  const sink = new MemorySink();
  const zip = new ZipWriter(sink);
  // Escaping names between the real entries; clashes after them (a clash refuses the later entry).
  const hostile = [...HOSTILE_ZIP_NAMES];
  const addHostile = async () => {
    const next = hostile[0]?.reason === 'collision' ? undefined : hostile.shift();
    if (next) await zip.addFile(next.name, text(`escaped via ${next.reason}\n`));
  };
  const walk = async (rel: string): Promise<void> => {
    for (const d of (await readdir(join(backupDir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) await walk(path);
      else {
        await zip.addFile(`Backup/${UDID}/${path}`, await readFile(join(backupDir, path)));
        await addHostile();
      }
    }
  };
  await walk('');
  for (const next of hostile) await zip.addFile(next.name, text(`escaped via ${next.reason}\n`));
  await zip.finish();
  return sink.bytes();
}
