import { CancelledError, CorruptBackupError, LifeboatError } from '../../core/errors.ts';
import { ConfinedTree, PathRefusedError, confinedName, confinedParts, confinedPath, refusalOf, type Refusal } from '../../core/confined-path.ts';
import type { BackupReader } from '../backup-reader.ts';
import { payloadPath } from '../backup-reader.ts';
import type { ManifestEntry } from '../manifest-db.ts';
import type { ByteSink, ExportTarget, Progress } from './byte-sink.ts';
import { ZipWriter } from './zip-writer.ts';

export interface ExportOptions {
  progress?: Progress;
  signal?: AbortSignal;
}

function check(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('The export was cancelled.');
}

/** One file, decrypted, into a sink. */
export async function exportFile(reader: BackupReader, fileID: string, sink: ByteSink): Promise<void> {
  for await (const chunk of reader.streamFile(fileID)) await sink.write(chunk);
  await sink.close();
}

/** Rows at and below `path` in `domain` ("" = the whole domain; domain "" = the whole backup). */
export function entriesUnder(reader: BackupReader, domain: string, path: string): ManifestEntry[] {
  const clean = path.replace(/^\/+|\/+$/g, '');
  if (domain === '') return [...reader.manifest.rows()].map(({ blob: _blob, ...e }) => e);
  const under = reader.manifest.findUnder(domain, clean === '' ? '' : `${clean}/`);
  const self = clean === '' ? reader.manifest.find(domain, '') : reader.manifest.find(domain, clean);
  return self ? [self, ...under.filter((e) => e.fileID !== self.fileID)] : under;
}

export interface TreeExportResult {
  files: number;
  bytes: number;
  /** Rows whose payload is not in the backup. */
  missing: string[];
  /** Hostile or damaged rows that were skipped, each named. */
  refused: Refusal[];
}

interface PlannedRow {
  entry: ManifestEntry;
  /** The confined `<domain>/<relativePath>`. */
  path: string;
}

function rowPath(e: ManifestEntry): string {
  return e.relativePath === '' ? e.domain : `${e.domain}/${e.relativePath}`;
}

/** The row's path, checked part by part so the refusal says which part is wrong (a domain is one folder). */
function confinedRowPath(e: ManifestEntry): string {
  const shown = rowPath(e);
  try {
    const domain = confinedName(e.domain);
    return e.relativePath === '' ? domain : `${domain}/${confinedPath(e.relativePath)}`;
  } catch (error) {
    if (error instanceof PathRefusedError) throw new PathRefusedError(shown, error.reason, error.path === shown ? undefined : `in “${error.path}”`);
    throw error;
  }
}

/** A refusal for a row-level failure, or undefined when the error must end the whole run (cancel, disk full…). */
function rowRefusal(error: unknown, path: string): Refusal | undefined {
  if (error instanceof PathRefusedError) {
    // Name the row, not the path made from it (a payload path built from a hostile file ID, say).
    return refusalOf(error.path === path ? error : new PathRefusedError(path, error.reason, `in “${error.path}”`));
  }
  if (error instanceof LifeboatError && error.code === 'corrupt-backup') return { path, reason: 'damaged', message: `Skipped “${path}”: ${error.message}` };
  return undefined;
}

/**
 * Which rows may be written, in the order to write them: every name through the confinement gate,
 * symlinks known before any file is claimed (so a row through a link is refused wherever it comes)
 * and written last, so nothing is ever written through a link this export made.
 */
function planTree(entries: ManifestEntry[], refused: Refusal[], linkStandIn?: ExportTarget['linkStandIn']): PlannedRow[] {
  const tree = new ConfinedTree();
  const links = new Set<ManifestEntry>();
  for (const e of entries) {
    if (e.kind !== 'symlink') continue;
    try {
      tree.announceSymlink(confinedRowPath(e));
      links.add(e);
    } catch (error) {
      refused.push(rowRefusal(error, rowPath(e))!);
    }
  }
  const rows: PlannedRow[] = [];
  const linkRows: PlannedRow[] = [];
  for (const e of entries) {
    if (e.kind === 'symlink' && !links.has(e)) continue;
    try {
      const path = tree.claim(confinedRowPath(e), e.kind);
      (e.kind === 'symlink' ? linkRows : rows).push({ entry: e, path });
    } catch (error) {
      refused.push(rowRefusal(error, rowPath(e))!);
    }
  }
  if (!linkStandIn) return [...rows, ...linkRows];
  return [...rows, ...linkRows.flatMap((row) => planStandIn(tree, row, linkStandIn, refused))];
}

/** Enough tries for any real backup; a backup holding all of them is hostile and its link is refused. */
const STAND_IN_ATTEMPTS = 100;

/**
 * A link written as a file takes the first stand-in name no row claimed. Claimed after every file
 * and folder, so the backup's own `x.symlink.txt` keeps its name and the link moves, said aloud.
 */
function planStandIn(tree: ConfinedTree, row: PlannedRow, linkStandIn: NonNullable<ExportTarget['linkStandIn']>, refused: Refusal[]): PlannedRow[] {
  const wanted = linkStandIn(row.path, 0);
  for (let attempt = 0; attempt < STAND_IN_ATTEMPTS; attempt++) {
    const name = attempt === 0 ? wanted : linkStandIn(row.path, attempt);
    try {
      const path = tree.claim(name, 'file');
      if (attempt > 0) {
        const shown = rowPath(row.entry);
        refused.push({ path: shown, reason: 'renamed', message: `Renamed “${shown}”: this symlink is written as “${path}”, because an entry of this backup is already called “${wanted}”.` });
      }
      return [{ entry: row.entry, path }];
    } catch (error) {
      if (!(error instanceof PathRefusedError && error.reason === 'collision')) {
        refused.push(rowRefusal(error, rowPath(row.entry))!);
        return [];
      }
    }
  }
  refused.push(rowRefusal(new PathRefusedError(rowPath(row.entry), 'collision', `every name for its stand-in file, “${wanted}” and ${STAND_IN_ATTEMPTS - 1} more, is taken`), rowPath(row.entry))!);
  return [];
}

/**
 * Writes rows as `<domain>/<relativePath>`: directories created, symlinks as symlinks (last),
 * files decrypted. A hostile or damaged row is skipped and named in `refused`; the rest is still
 * written. Used for "export folder", "export everything" and the CLI's extract.
 */
export async function exportTree(reader: BackupReader, entries: ManifestEntry[], target: ExportTarget, options: ExportOptions & { onRefused?: (refusal: Refusal) => void } = {}): Promise<TreeExportResult> {
  let bytes = 0;
  let files = 0;
  const missing: string[] = [];
  const refused: Refusal[] = [];
  const refuse = (refusal: Refusal) => {
    refused.push(refusal);
    options.onRefused?.(refusal);
  };
  const planRefused: Refusal[] = [];
  const plan = planTree(entries, planRefused, target.linkStandIn?.bind(target));
  planRefused.forEach(refuse);
  const fileEntries = plan.filter((r) => r.entry.kind === 'file').length;
  for (const { entry: e, path } of plan) {
    check(options.signal);
    try {
      if (e.kind === 'directory') {
        await target.mkdir(path);
      } else if (e.kind === 'symlink') {
        const linkTarget = reader.manifest.metadata(e.fileID)?.target;
        if (linkTarget) await target.symlink(path, linkTarget);
      } else {
        if (!(await reader.payloadLocation(e.fileID))) {
          missing.push(path);
          continue;
        }
        let size = 0;
        const counted = (async function* () {
          for await (const chunk of reader.streamFile(e.fileID)) {
            size += chunk.length;
            yield chunk;
          }
        })();
        await target.writeFile(path, counted);
        bytes += size;
        files++;
        options.progress?.(files, fileEntries, path);
      }
    } catch (error) {
      const refusal = rowRefusal(error, path);
      if (!refusal) throw error;
      refuse(refusal);
    }
  }
  return { files, bytes, missing, refused };
}

export interface FinderCopyResult {
  /** The folder the backup went into (its UDID), inside the picked folder or the zip. */
  folder: string;
  files: number;
  refused: Refusal[];
}

/**
 * The folder Finder and idevicebackup2 look for a backup in: `<UDID>`. The UDID comes from the
 * backup's own Info.plist, so it goes through the gate like any other name.
 */
export function finderFolderName(reader: BackupReader): string {
  const udid = reader.summary().udid;
  if (!udid) throw new CorruptBackupError('This backup does not say which device it belongs to (no Unique Identifier in Info.plist), so Finder could not find a copy of it.');
  return confinedName(udid);
}

type FinderItem = { kind: 'directory'; path: string } | { kind: 'file'; path: string; from: string };

/**
 * The raw backup folder, confined: its top-level files (Info/Manifest/Status.plist, Manifest.db)
 * and every payload `xx/<fileID>` the Manifest names and the folder holds (or, while the backup is
 * locked, every file in its `xx/` folders). File IDs come from Manifest.db, so each one goes through
 * the gate; a hostile one is refused, not followed.
 */
async function* finderItems(reader: BackupReader, refused: Refusal[]): AsyncGenerator<FinderItem> {
  const source = reader.source;
  const tree = new ConfinedTree();
  const dirs = new Set<string>();
  for (const entry of await source.list('')) {
    if (entry.kind !== 'file') continue;
    try {
      const name = tree.claim(confinedName(entry.name), 'file');
      yield { kind: 'file', path: name, from: name };
    } catch (error) {
      refused.push(rowRefusal(error, entry.name)!);
    }
  }
  if (reader.locked) {
    // Without the password Manifest.db cannot be read, so the payload folders are copied as listed.
    for (const dir of await source.list('')) {
      if (dir.kind !== 'directory' || !/^[0-9a-f]{2}$/i.test(dir.name)) continue;
      for (const entry of await source.list(dir.name)) {
        if (entry.kind !== 'file') continue;
        const shown = `${dir.name}/${entry.name}`;
        try {
          const path = tree.claim(`${confinedName(dir.name)}/${confinedName(entry.name)}`, 'file');
          if (!dirs.has(dir.name)) {
            dirs.add(dir.name);
            yield { kind: 'directory', path: dir.name };
          }
          yield { kind: 'file', path, from: path };
        } catch (error) {
          const refusal = rowRefusal(error, shown);
          if (!refusal) throw error;
          refused.push(refusal);
        }
      }
    }
    return;
  }
  for (const row of reader.manifest.rows()) {
    if (row.kind !== 'file') continue;
    let path: string;
    try {
      const nested = payloadPath(row.fileID);
      const parts = confinedParts(nested);
      if (parts.length !== 2) throw new PathRefusedError(nested, 'not-a-name', 'a file ID must be a single name');
      path = parts.join('/');
      const dir = parts[0]!;
      if (!(await source.stat(path))) continue;
      tree.claim(dir, 'directory');
      tree.claim(path, 'file');
      if (!dirs.has(dir)) {
        dirs.add(dir);
        yield { kind: 'directory', path: dir };
      }
    } catch (error) {
      const refusal = rowRefusal(error, rowPath(row));
      if (!refusal) throw error;
      refused.push(refusal);
      continue;
    }
    yield { kind: 'file', path, from: path };
  }
}

/** How many files a Finder copy may write, for an honest progress bar. */
async function finderTotal(reader: BackupReader): Promise<number> {
  const top = await reader.source.list('');
  let total = top.filter((e) => e.kind === 'file').length;
  if (reader.locked) {
    for (const dir of top) if (dir.kind === 'directory' && /^[0-9a-f]{2}$/i.test(dir.name)) total += (await reader.source.list(dir.name)).length;
  } else for (const row of reader.manifest.rows()) if (row.kind === 'file') total++;
  return total;
}

/**
 * A byte-for-byte copy of the backup folder (still encrypted if it was), restorable by Finder/iTunes
 * and idevicebackup2. With `folder` it goes into that subfolder of the target (the UI passes the
 * UDID, so picking Finder's own Backup folder works).
 */
export async function exportFinderCopy(reader: BackupReader, target: ExportTarget, options: ExportOptions & { folder?: string } = {}): Promise<FinderCopyResult> {
  const folder = options.folder === undefined ? '' : confinedName(options.folder);
  const under = (path: string) => (folder ? `${folder}/${path}` : path);
  const refused: Refusal[] = [];
  const total = await finderTotal(reader);
  if (folder) await target.mkdir(folder);
  let done = 0;
  let files = 0;
  const made = new Set<string>();
  for await (const item of finderItems(reader, refused)) {
    check(options.signal);
    if (item.kind === 'directory') {
      if (!made.has(item.path)) await target.mkdir(under(item.path));
      made.add(item.path);
      continue;
    }
    done++;
    await target.writeFile(under(item.path), reader.source.stream(item.from));
    files++;
    options.progress?.(done, total, item.path);
  }
  return { folder, files, refused };
}

/**
 * The same raw backup as a streamed zip, under `<folder>/` (the UDID): for browsers without a folder
 * picker. Unzipped, it is a Finder Backup folder; encrypted backups stay encrypted.
 */
export async function exportFinderZip(reader: BackupReader, sink: ByteSink, options: ExportOptions & { folder: string; forceZip64?: boolean }): Promise<FinderCopyResult> {
  const folder = confinedName(options.folder);
  const zip = new ZipWriter(sink, { forceZip64: options.forceZip64 });
  const refused: Refusal[] = [];
  const total = await finderTotal(reader);
  const now = new Date();
  await zip.addDirectory(folder, now);
  let done = 0;
  let files = 0;
  for await (const item of finderItems(reader, refused)) {
    check(options.signal);
    if (item.kind === 'directory') {
      await zip.addDirectory(`${folder}/${item.path}`, now);
      continue;
    }
    done++;
    await zip.addFile(`${folder}/${item.path}`, reader.source.stream(item.from), now);
    files++;
    options.progress?.(done, total, item.path);
  }
  await zip.finish();
  return { folder, files, refused };
}

/** Decrypted files as a zip (stored entries, CRC-32 streamed, zip64 past 4 GB); hostile or damaged rows are skipped and named. */
export async function exportZip(
  reader: BackupReader,
  entries: ManifestEntry[],
  sink: ByteSink,
  options: ExportOptions & { forceZip64?: boolean } = {},
): Promise<{ files: number; refused: Refusal[] }> {
  const zip = new ZipWriter(sink, { forceZip64: options.forceZip64 });
  const refused: Refusal[] = [];
  // Symlinks are not written into the zip, but they are planned so that rows through them are refused.
  const plan = planTree(entries, refused).filter((r) => r.entry.kind !== 'symlink');
  const total = plan.filter((r) => r.entry.kind === 'file').length;
  let done = 0;
  for (const { entry: e, path: name } of plan) {
    check(options.signal);
    const mtime = reader.manifest.metadata(e.fileID)?.lastModified;
    const when = mtime ? new Date(mtime * 1000) : new Date();
    if (e.kind === 'directory') await zip.addDirectory(name, when);
    else {
      try {
        if (!(await reader.payloadLocation(e.fileID))) continue;
      } catch (error) {
        const refusal = rowRefusal(error, name);
        if (!refusal) throw error;
        refused.push(refusal);
        continue;
      }
      // The zip is a stream: an entry cannot be taken back once started, so a payload that fails
      // half-way ends the export (damage is caught by Verify beforehand).
      await zip.addFile(name, reader.streamFile(e.fileID), when);
      done++;
      options.progress?.(done, total, name);
    }
  }
  await zip.finish();
  return { files: done, refused };
}
