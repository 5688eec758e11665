import type { DirectoryHandleLike } from '../../library/source/directory-handle-source.ts';
import type { WritableDirectoryHandleLike } from '../../library/export/directory-handle-target.ts';

// The parts of the File System Access API the Library uses. TypeScript's DOM lib leaves out the
// pickers, permissions and async iteration, so they are declared here, structurally.

export interface PermissionHandle {
  queryPermission?(options: { mode: 'read' | 'readwrite' }): Promise<PermissionState>;
  requestPermission?(options: { mode: 'read' | 'readwrite' }): Promise<PermissionState>;
}

export type DirHandle = FileSystemDirectoryHandle &
  PermissionHandle & {
    values(): AsyncIterable<FileSystemFileHandle | DirHandle>;
  };

interface PickerWindow {
  showDirectoryPicker?: (options?: { mode?: 'read' | 'readwrite'; id?: string }) => Promise<DirHandle>;
  showSaveFilePicker?: (options?: {
    suggestedName?: string;
    types?: { description: string; accept: Record<string, string[]> }[];
  }) => Promise<FileSystemFileHandle>;
}

const pickers = (): PickerWindow => globalThis as unknown as PickerWindow;

export const canPickFolders = (): boolean => typeof pickers().showDirectoryPicker === 'function';
export const canPickSaveFile = (): boolean => typeof pickers().showSaveFilePicker === 'function';

export function pickFolder(mode: 'read' | 'readwrite'): Promise<DirHandle> {
  const pick = pickers().showDirectoryPicker;
  if (!pick) throw new Error('This browser cannot open folders. Use Chrome or Edge on a computer, or import a .zip.');
  return pick({ mode });
}

export function pickSaveFile(suggestedName: string, description: string, mime: string, extension: string): Promise<FileSystemFileHandle> {
  const pick = pickers().showSaveFilePicker!;
  return pick({ suggestedName, types: [{ description, accept: { [mime]: [extension] } }] });
}

/** The person closed a picker: not an error worth showing. */
export function isAbort(error: unknown): boolean {
  return (error as { name?: string })?.name === 'AbortError';
}

/** Read (or write) access to a saved handle; asks again after a reload, as Chrome requires. */
export async function ensurePermission(handle: PermissionHandle, mode: 'read' | 'readwrite'): Promise<boolean> {
  if (!handle.queryPermission) return true;
  if ((await handle.queryPermission({ mode })) === 'granted') return true;
  return (await handle.requestPermission?.({ mode })) === 'granted';
}

export async function opfsRoot(): Promise<DirHandle> {
  return (await navigator.storage.getDirectory()) as DirHandle;
}

/** A folder inside OPFS, or undefined when it does not exist (and create is false). */
export async function opfsDirectory(path: string[], create = false): Promise<DirHandle | undefined> {
  let dir = await opfsRoot();
  try {
    for (const part of path) dir = (await dir.getDirectoryHandle(part, { create })) as DirHandle;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFoundError') return undefined;
    throw error;
  }
  return dir;
}

export async function subdirectory(root: DirHandle, path: string): Promise<DirHandle> {
  let dir = root;
  for (const part of path.split('/').filter(Boolean)) dir = (await dir.getDirectoryHandle(part)) as DirHandle;
  return dir;
}

/**
 * A real handle as the library worker's structural types. They fit at run time; TypeScript's DOM lib
 * just lacks async iteration and types write() for ArrayBuffer-backed chunks only.
 */
export const asReadable = (handle: DirHandle): DirectoryHandleLike => handle as unknown as DirectoryHandleLike;
export const asWritable = (handle: DirHandle): WritableDirectoryHandleLike => handle as unknown as WritableDirectoryHandleLike;
