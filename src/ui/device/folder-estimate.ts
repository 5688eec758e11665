/**
 * Files per second a picked folder takes in: every backup file is its own `createWritable()` (a swap
 * file, then a move on close), each a round trip to the browser's storage process. Measured in headless
 * Chromium over an OPFS folder (`npm run bench -- backup`, store=folder): 154–160 files/s on a busy
 * machine, 390–433 on a quiet one. Browser storage packs small files and takes thousands per second.
 * A real disk adds Chrome's own checks on every close, which headless Chromium cannot show, so the
 * range is what a person should expect, not a promise.
 */
export const FOLDER_FILES_PER_SECOND = { slowest: 155, fastest: 400 } as const;

/** Whole minutes, or hours and minutes: an estimate this rough has no use for seconds. */
function roughDuration(seconds: number): string {
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 60) return `${minutes} min`;
  const rest = minutes % 60;
  return rest === 0 ? `${minutes / 60} h` : `${Math.floor(minutes / 60)} h ${rest} min`;
}

/** How long writing `files` files into a picked folder takes, e.g. "54 min – 2 h 20 min". */
export function folderBackupEstimate(files: number): string {
  const fastest = roughDuration(files / FOLDER_FILES_PER_SECOND.fastest);
  const slowest = roughDuration(files / FOLDER_FILES_PER_SECOND.slowest);
  if (fastest === slowest) return `about ${fastest}`;
  // "4–11 min" when both are in minutes; otherwise each side says its own units.
  if (fastest.endsWith(' min') && slowest.endsWith(' min') && !fastest.includes('h') && !slowest.includes('h')) {
    return `${fastest.slice(0, -4)}–${slowest}`;
  }
  return `${fastest} – ${slowest}`;
}
