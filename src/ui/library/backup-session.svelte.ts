import type { BackupSummary } from '../../library/library-api.ts';
import type { LibraryEntry } from './library-db.ts';
import { openInWorker, updateSummary } from './library-state.svelte.ts';
import { Comlink, libraryWorker, toUiError, type UiError } from './library-worker.ts';
import { exportState } from './exports.svelte.ts';

export type TabId =
  | 'overview'
  | 'messages'
  | 'photos'
  | 'contacts'
  | 'notes'
  | 'calls'
  | 'safari'
  | 'voice-memos'
  | 'apps'
  | 'files'
  | 'search'
  | 'changes';

export const TABS: { id: TabId; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'messages', label: 'Messages' },
  { id: 'photos', label: 'Photos' },
  { id: 'contacts', label: 'Contacts' },
  { id: 'notes', label: 'Notes' },
  { id: 'calls', label: 'Calls' },
  { id: 'safari', label: 'Safari' },
  { id: 'voice-memos', label: 'Voice Memos' },
  { id: 'apps', label: 'Apps' },
  { id: 'files', label: 'Files' },
  { id: 'search', label: 'Search' },
  { id: 'changes', label: 'Changes' },
];

/** The backup open in the worker: opening → (locked →) ready, or failed with a reason. */
class BackupSession {
  entry = $state.raw<LibraryEntry | undefined>();
  summary = $state.raw<BackupSummary | undefined>();
  phase = $state<'opening' | 'locked' | 'unlocking' | 'ready' | 'failed'>('opening');
  /** While opening or unlocking: what the worker reported last (Manifest.db's bytes read, then indexing). */
  opening = $state.raw<{ label: string; done: number; total: number } | undefined>();
  error = $state.raw<UiError | undefined>();
  unlockError = $state.raw<UiError | undefined>();
  tab = $state<TabId>('overview');
  /** Set by Search so Messages/Contacts open on the chosen item. */
  focusChat = $state<number | undefined>();
  focusContact = $state<number | undefined>();
  /** With focusChat: the message to scroll to and highlight (a search hit). */
  focusMessage = $state<number | undefined>();
  /** The tab the next openSession() starts on (the Library's "What changed" opens on Changes). */
  nextTab: TabId | undefined;
  /** Bumped on every (re)open, so views reload what they show. */
  generation = $state(0);
}

export const backup = new BackupSession();

/** Manifest.db sizes from which reading it is shown as progress (about 60k files). */
const OPEN_PROGRESS_FROM_BYTES = 64 * 1024 * 1024;

/**
 * Where the worker's progress goes while `entry` is in `phase` (opening, or unlocking once the password
 * fits): into backup.opening, and only for a big Manifest.db (a small one opens in a blink), then its
 * indexing too. Reports arriving after the phase ended are dropped.
 */
function progressInto(entry: LibraryEntry | undefined, phase: 'opening' | 'unlocking'): (done: number, total: number, label?: string) => void {
  return (done, total, label) => {
    if (!label || backup.entry !== entry || backup.phase !== phase) return;
    if (backup.opening || total >= OPEN_PROGRESS_FROM_BYTES) backup.opening = { label, done, total };
  };
}

export async function openSession(entry: LibraryEntry): Promise<void> {
  backup.entry = entry;
  backup.summary = entry.summary;
  backup.phase = 'opening';
  backup.opening = undefined;
  backup.error = undefined;
  backup.unlockError = undefined;
  backup.tab = backup.nextTab ?? 'overview';
  backup.nextTab = undefined;
  exportState.finished = undefined;
  exportState.error = undefined;
  try {
    const summary = await openInWorker(entry, progressInto(entry, 'opening'));
    backup.opening = undefined;
    backup.summary = summary;
    backup.phase = summary.locked ? 'locked' : 'ready';
    if (!summary.locked) backup.entry = await updateSummary(entry, summary);
    backup.generation++;
  } catch (error) {
    backup.error = toUiError(error);
    backup.phase = 'failed';
  }
}

export async function unlock(password: string): Promise<void> {
  backup.phase = 'unlocking';
  backup.opening = undefined;
  backup.unlockError = undefined;
  try {
    const summary = await libraryWorker().unlock(password, Comlink.proxy(progressInto(backup.entry, 'unlocking')));
    backup.opening = undefined;
    backup.summary = summary;
    backup.phase = 'ready';
    backup.generation++;
    if (backup.entry) backup.entry = await updateSummary(backup.entry, summary);
  } catch (error) {
    const e = toUiError(error);
    backup.unlockError =
      e.code === 'wrong-password'
        ? { code: e.code, message: 'Wrong password: this backup was encrypted with a different one.', action: 'Check it and try again — it is the password set in Finder or iTunes (or in Lifeboat) when encryption was turned on, not the iPhone passcode.' }
        : e;
    backup.opening = undefined;
    backup.phase = 'locked';
  }
}
