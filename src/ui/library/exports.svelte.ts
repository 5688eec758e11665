import { contentUrl } from './content-url.ts';
import { asWritable, canPickFolders, canPickSaveFile, isAbort, pickFolder, pickSaveFile } from './fs-access.ts';
import { Comlink, libraryWorker, toUiError, type UiError } from './library-worker.ts';
import type { Refusal } from '../../core/confined-path.ts';

/** The export running now (one at a time) and the last one's outcome, for the progress bar. */
class ExportState {
  running = $state.raw<{ label: string; done: number; total: number; unit: 'bytes' | 'files' } | undefined>();
  finished = $state<string | undefined>();
  /** Rows the last export skipped (hostile names, damaged data), each named; shown under the message. */
  refused = $state.raw<Refusal[]>([]);
  error = $state.raw<UiError | undefined>();
}
export const exportState = new ExportState();

interface FileTarget {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

const MIME_EXTENSIONS: Record<string, string> = {
  'text/vcard': '.vcf',
  'text/html': '.html',
  'application/zip': '.zip',
};

function extensionOf(name: string, mime: string): string {
  return MIME_EXTENSIONS[mime] ?? (/\.[A-Za-z0-9]{1,8}$/.exec(name)?.[0] ?? '.bin');
}

export function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Where a file export writes: the save picker's file when the browser has one, else memory that
 * becomes a download when closed. `undefined` when the person cancelled the picker.
 */
async function fileTarget(name: string, mime: string): Promise<FileTarget | undefined> {
  if (canPickSaveFile()) {
    try {
      const handle = await pickSaveFile(name, name, mime, extensionOf(name, mime));
      const writable = await handle.createWritable();
      return { write: (d) => writable.write(d as Uint8Array<ArrayBuffer>), close: () => writable.close() };
    } catch (error) {
      if (isAbort(error)) return undefined;
      throw error;
    }
  }
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  return {
    write: async (d) => void chunks.push(d as Uint8Array<ArrayBuffer>),
    close: async () => download(name, new Blob(chunks, { type: mime })),
  };
}

/** What an export that can skip rows reports: its message, and the rows it refused. */
interface Outcome {
  message: string;
  refused: Refusal[];
}

/** "Exported 12 files. 2 refused, 1 renamed." — the rows themselves are listed under it. */
function withRefusals(message: string, refused: readonly Refusal[]): Outcome {
  const renamed = refused.filter((r) => r.reason === 'renamed').length;
  const counts = [refused.length - renamed && `${refused.length - renamed} refused`, renamed && `${renamed} renamed`].filter(Boolean).join(', ');
  return { message: refused.length ? `${message} ${counts} (listed below).` : message, refused: [...refused] };
}

async function track(label: string, unit: 'bytes' | 'files', work: (progress: (done: number, total: number) => void) => Promise<string | Outcome | void>): Promise<void> {
  exportState.error = undefined;
  exportState.finished = undefined;
  exportState.refused = [];
  exportState.running = { label, done: 0, total: 0, unit };
  // Progress calls come over their own MessagePort, so one can land after the result: ignore it then.
  let live = true;
  try {
    const outcome = await work((done, total) => {
      if (live) exportState.running = { label, done, total, unit };
    });
    if (typeof outcome === 'object') {
      exportState.finished = outcome.message;
      exportState.refused = outcome.refused;
    } else exportState.finished = outcome ?? undefined;
  } catch (error) {
    if (!isAbort(error)) exportState.error = toUiError(error);
  } finally {
    live = false;
    exportState.running = undefined;
  }
}

/** Text made here (vCard, conversation HTML) saved as a file. */
export function saveText(name: string, mime: string, text: string): Promise<void> {
  return track(`Saving ${name}…`, 'bytes', async () => {
    const target = await fileTarget(name, mime);
    if (!target) return;
    await target.write(new TextEncoder().encode(text));
    await target.close();
    return `Saved ${name}.`;
  });
}

/**
 * One file of the backup, decrypted, streamed from the worker into the picked file (or a download);
 * `from` 'compared': of the version the open backup is being compared with.
 */
export function exportBackupFile(fileID: string, name: string, size: number, mime = 'application/octet-stream', from: 'open' | 'compared' = 'open'): Promise<void> {
  return track(`Exporting ${name}…`, 'bytes', async (progress) => {
    const target = await fileTarget(name, mime);
    if (!target) return;
    let done = 0;
    const sink = Comlink.proxy({
      write: async (chunk: Uint8Array) => {
        await target.write(chunk);
        done += chunk.length;
        progress(done, size);
      },
      close: () => target.close(),
    });
    if (from === 'compared') await libraryWorker().exportComparedFile(fileID, sink);
    else await libraryWorker().exportFile(fileID, sink);
    return `Exported ${name}.`;
  });
}

/** Decrypted files under domain/path into a folder the person picks. */
export function exportFolder(domain: string, path: string, label: string): Promise<void> {
  return track(`Exporting ${label}…`, 'files', async (progress) => {
    if (!canPickFolders()) throw new Error('This browser cannot write to folders. Use “Export as .zip” instead.');
    const folder = await pickFolder('readwrite');
    const { files, refused } = await libraryWorker().exportFolder(domain, path, asWritable(folder), Comlink.proxy(progress));
    return withRefusals(`Exported ${files} file${files === 1 ? '' : 's'} to “${folder.name}”.`, refused);
  });
}

/**
 * A raw copy Finder/iTunes (and idevicebackup2) can restore from, into `<UDID>/` inside the picked
 * folder: Finder and idevicebackup2 look for `<Backup folder>/<UDID>/`, so picking Finder's own
 * Backup folder works.
 */
export function exportFinderCopy(): Promise<void> {
  return track('Making a Finder-compatible copy…', 'files', async (progress) => {
    if (!canPickFolders()) throw new Error('This browser cannot write to folders. Use “Finder-compatible .zip” instead.');
    const folder = await pickFolder('readwrite');
    const { folder: udid, files, refused } = await libraryWorker().exportFinderCopy(asWritable(folder), Comlink.proxy(progress));
    return withRefusals(`Copied the backup (${files} files) to “${folder.name}/${udid}”.`, refused);
  });
}

/**
 * The same raw copy as a streamed .zip holding `<UDID>/…`, for browsers without a folder picker:
 * unzipped into Finder's Backup folder (or given to idevicebackup2) it restores; encrypted stays encrypted.
 */
export function exportFinderZip(name: string): Promise<void> {
  return track(`Zipping ${name}…`, 'files', async (progress) => {
    const target = await fileTarget(name, 'application/zip');
    if (!target) return;
    const { folder, files, refused } = await libraryWorker().exportFinderZip(Comlink.proxy(target), Comlink.proxy(progress));
    return withRefusals(`Saved ${name} (${files} files under “${folder}/”). Unzip it into Finder’s Backup folder to restore from it.`, refused);
  });
}

/** A streaming zip of decrypted files under domain/path ("" = everything). */
export function exportZip(domain: string, path: string, name: string): Promise<void> {
  return track(`Zipping ${name}…`, 'files', async (progress) => {
    const target = await fileTarget(name, 'application/zip');
    if (!target) return;
    const { refused } = await libraryWorker().exportZip(domain, path, Comlink.proxy(target), Comlink.proxy(progress));
    return withRefusals(`Saved ${name}.`, refused);
  });
}

/** Bytes → a URL for <img>/<audio>/<video> that can never run script in this origin (content-url.ts); revoked by the caller. */
export function objectUrl(bytes: Uint8Array, mime: string): string {
  return contentUrl(bytes, mime);
}

export function downloadBytes(name: string, bytes: Uint8Array, mime: string): void {
  download(name, new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime }));
}

/** "Ada Lovelace" → "Ada Lovelace" with characters file systems reject replaced. */
export function safeFileName(name: string): string {
  return name.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, '_').trim() || 'export';
}
