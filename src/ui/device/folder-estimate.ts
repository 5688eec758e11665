import { formatDuration } from '../format.ts';

/**
 * Files per second a picked folder takes in: every backup file is its own `createWritable()` (a swap
 * file, then a move on close), each a round trip to the browser's storage process. Measured 154–160
 * files/s in headless Chromium (`npm run bench -- backup`, store=folder); browser storage packs small
 * files and takes thousands per second. A real disk adds Chrome's own checks on every close, so this
 * is the best case.
 */
export const FOLDER_FILES_PER_SECOND = 155;

/** How long writing `files` files into a picked folder takes at best, e.g. "2 h 19 min". */
export function folderBackupEstimate(files: number): string {
  return formatDuration(files / FOLDER_FILES_PER_SECOND);
}
