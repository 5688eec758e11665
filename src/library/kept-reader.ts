import type { BackupReader } from './backup-reader.ts';
import type { BackupSource } from './source/backup-source.ts';

/** How long a backup read for its summary stays open for the open that usually follows. */
export const KEEP_READER_MS = 120_000;

/** The files BackupReader.open reads; if none changed, a reader opened earlier reads what a new one would. */
const OPENED_FILES = ['Manifest.db', 'Manifest.plist', 'Status.plist', 'Info.plist'] as const;

/**
 * Size and modification time of each file a reader opens, as the source's Files say them, or null
 * where the source has no Files (nothing can then tell that a file did not change).
 */
export async function openedFilesStamp(source: BackupSource): Promise<string | null> {
  if (!source.fileBlob) return null;
  const parts: string[] = [];
  for (const name of OPENED_FILES) {
    const blob = await source.fileBlob(name).catch(() => null);
    if (!blob) {
      parts.push(`${name}:-`);
      continue;
    }
    const modified = (blob as Blob & { lastModified?: number }).lastModified;
    if (typeof modified !== 'number') return null;
    parts.push(`${name}:${blob.size}:${modified}`);
  }
  return parts.join('|');
}

interface Kept<Place> {
  place: Place;
  stamp: string;
  reader: BackupReader;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One backup reader kept open after a search for backups read it for its summary. Adding a picked
 * folder to the Library is usually followed by opening it, and both need Manifest.db's index: at
 * 1.3M files that was ≈5 s each time. The reader is handed over only if the open names the same
 * place and none of the files it read has changed since (size and modification time); else, after
 * `keepMs`, or when something else is opened, it is closed.
 */
export class KeptReader<Place> {
  private kept: Kept<Place> | undefined;

  constructor(
    private readonly samePlace: (a: Place, b: Place) => Promise<boolean>,
    private readonly keepMs = KEEP_READER_MS,
  ) {}

  /**
   * Takes `reader` over (closing the one kept before). False, closing it, where nothing could tell a
   * change, or where the reader holds a handle that would keep others from changing or removing its
   * files (OPFS: the next backup into that folder could not write Manifest.db).
   */
  async keep(place: Place, source: BackupSource, reader: BackupReader): Promise<boolean> {
    this.clear();
    const stamp = reader.holdsFileHandle ? null : await openedFilesStamp(source).catch(() => null);
    if (stamp === null) {
      reader.close();
      return false;
    }
    const timer = setTimeout(() => {
      if (this.kept?.reader === reader) this.clear();
    }, this.keepMs);
    this.kept = { place, stamp, reader, timer };
    return true;
  }

  /** The kept reader if it was read from `place` and its files are unchanged in `source`; it is the caller's then. */
  async take(place: Place, source: BackupSource): Promise<BackupReader | undefined> {
    const kept = this.kept;
    if (!kept) return undefined;
    this.kept = undefined;
    clearTimeout(kept.timer);
    const same = await this.samePlace(kept.place, place).catch(() => false);
    if (same && (await openedFilesStamp(source).catch(() => null)) === kept.stamp) return kept.reader;
    kept.reader.close();
    return undefined;
  }

  /** Closes the kept reader, if any. */
  clear(): void {
    if (!this.kept) return;
    clearTimeout(this.kept.timer);
    this.kept.reader.close();
    this.kept = undefined;
  }
}
