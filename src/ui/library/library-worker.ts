import * as Comlink from 'comlink';
import { installErrorTransfer } from '../../core/comlink-errors.ts';
import type { CategoryData, CategoryId, LibraryApi } from '../../library/library-api.ts';

installErrorTransfer();

let remote: Comlink.Remote<LibraryApi> | undefined;

/** The one library worker: SQLite, PBKDF2 and decryption run there, never on the UI thread. */
export function libraryWorker(): Comlink.Remote<LibraryApi> {
  if (!remote) {
    const worker = new Worker(new URL('../../../workers/library.worker.ts', import.meta.url), { type: 'module', name: 'library' });
    remote = Comlink.wrap<LibraryApi>(worker);
  }
  return remote;
}

export { Comlink };

/** One category's items (Comlink's Remote type loses the method's generic, so it is restored here). */
export function readCategory<K extends CategoryId>(id: K): Promise<CategoryData[K]> {
  return libraryWorker().category(id) as Promise<CategoryData[K]>;
}

/** What an error screen shows; `code` comes through Comlink intact (see core/comlink-errors.ts). */
export interface UiError {
  code: string;
  message: string;
  action?: string;
}

/** A failure the UI itself detects (no permission, gone from storage), shaped like a LifeboatError. */
export class UiFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly action?: string,
  ) {
    super(message);
  }
}

export function toUiError(error: unknown): UiError {
  const e = error as { code?: string; message?: string; action?: string } | undefined;
  return {
    code: e?.code ?? 'unknown',
    message: e?.message || String(error),
    ...(e?.action ? { action: e.action } : {}),
  };
}
