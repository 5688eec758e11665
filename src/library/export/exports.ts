import { CancelledError } from '../../core/errors.ts';
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

/**
 * Writes rows as `<domain>/<relativePath>`: directories created, symlinks as symlinks, files
 * decrypted. Used for "export folder", "export everything" and the CLI's extract.
 */
export async function exportTree(reader: BackupReader, entries: ManifestEntry[], target: ExportTarget, options: ExportOptions = {}): Promise<{ files: number; bytes: number; missing: string[] }> {
  let bytes = 0;
  let files = 0;
  const missing: string[] = [];
  const fileEntries = entries.filter((e) => e.kind === 'file').length;
  for (const e of entries) {
    check(options.signal);
    const path = e.relativePath === '' ? e.domain : `${e.domain}/${e.relativePath}`;
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
  }
  return { files, bytes, missing };
}

/** A byte-for-byte copy of the backup folder (still encrypted if it was), restorable by Finder/iTunes. */
export async function exportFinderCopy(reader: BackupReader, target: ExportTarget, options: ExportOptions = {}): Promise<void> {
  const source = reader.source;
  const topFiles = (await source.list('')).filter((e) => e.kind === 'file').map((e) => e.name);
  const payloads: string[] = [];
  for (const row of reader.manifest.rows()) if (row.kind === 'file') payloads.push(payloadPath(row.fileID));
  const total = topFiles.length + payloads.length;
  let done = 0;
  for (const name of topFiles) {
    check(options.signal);
    await target.writeFile(name, source.stream(name));
    done++;
    options.progress?.(done, total, name);
  }
  const made = new Set<string>();
  for (const path of payloads) {
    check(options.signal);
    done++;
    if (!(await source.stat(path))) continue;
    const dir = path.slice(0, 2);
    if (!made.has(dir)) {
      await target.mkdir(dir);
      made.add(dir);
    }
    await target.writeFile(path, source.stream(path));
    options.progress?.(done, total, path);
  }
}

/** Decrypted files as a zip (stored entries, CRC-32 streamed, zip64 past 4 GB). */
export async function exportZip(
  reader: BackupReader,
  entries: ManifestEntry[],
  sink: ByteSink,
  options: ExportOptions & { forceZip64?: boolean } = {},
): Promise<void> {
  const zip = new ZipWriter(sink, { forceZip64: options.forceZip64 });
  const files = entries.filter((e) => e.kind === 'file');
  let done = 0;
  for (const e of entries) {
    check(options.signal);
    const name = e.relativePath === '' ? e.domain : `${e.domain}/${e.relativePath}`;
    const mtime = reader.manifest.metadata(e.fileID)?.lastModified;
    const when = mtime ? new Date(mtime * 1000) : new Date();
    if (e.kind === 'directory') await zip.addDirectory(name, when);
    else if (e.kind === 'file') {
      if (!(await reader.payloadLocation(e.fileID))) continue;
      await zip.addFile(name, reader.streamFile(e.fileID), when);
      done++;
      options.progress?.(done, files.length, name);
    }
  }
  await zip.finish();
}
