/**
 * Persistent storage for backups in the browser. Without it the browser may clear the origin's
 * storage (OPFS backups included) when the disk runs low; persist() asks it not to. Chrome answers
 * by its own rules without a prompt; Firefox asks the person. Asked once, at the first backup into
 * the browser (the Library's “Keep my backups” asks again whenever the person wants).
 */
const ASKED_KEY = 'lifeboat.persist-asked';

/** The sentence shown with the backup that asked, or undefined when nothing was asked. */
export const persistNote = $state<{ text: string | undefined; granted: boolean }>({ text: undefined, granted: false });

export async function askToKeepBackupsOnce(): Promise<void> {
  const storage = globalThis.navigator?.storage;
  if (!storage?.persist || !storage.persisted) return;
  if (await storage.persisted()) return;
  if (globalThis.localStorage?.getItem(ASKED_KEY)) return;
  globalThis.localStorage?.setItem(ASKED_KEY, new Date().toISOString());
  const granted = await storage.persist().catch(() => false);
  persistNote.granted = granted;
  persistNote.text = granted
    ? 'Lifeboat asked this browser to keep its backups even when the disk runs low, and it agreed.'
    : 'Lifeboat asked this browser to keep its backups even when the disk runs low (otherwise it may clear them to make room); it has not agreed yet — “Keep my backups” in the Library asks again.';
}
