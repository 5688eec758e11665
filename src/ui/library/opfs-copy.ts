import type { DirHandle } from './fs-access.ts';
import { ConfinedTree, PathRefusedError, refusalOf, type Refusal } from '../../core/confined-path.ts';

export interface CopyProgress {
  (doneBytes: number, totalBytes: number, current: string): void;
}

/**
 * Every file under `dir`, each name through the confinement gate: a picked folder is someone else's
 * disk, and a name the gate refuses (a backslash, say) is skipped and reported, never copied.
 */
async function walk(dir: DirHandle, prefix: string, out: { path: string; file: FileSystemFileHandle }[], tree: ConfinedTree, onRefused: (refusal: Refusal) => void): Promise<void> {
  for await (const handle of dir.values()) {
    const raw = prefix ? `${prefix}/${handle.name}` : handle.name;
    let path: string;
    try {
      path = tree.claim(raw, handle.kind);
    } catch (error) {
      if (!(error instanceof PathRefusedError)) throw error;
      onRefused(refusalOf(error));
      continue;
    }
    if (handle.kind === 'directory') await walk(handle as DirHandle, path, out, tree, onRefused);
    else out.push({ path, file: handle as FileSystemFileHandle });
  }
}

/**
 * Copies a folder tree into `target` (an OPFS folder), streaming each file; returns the bytes copied.
 * Sizes are read first so the progress bar is honest from the start.
 */
export async function copyTree(source: DirHandle, target: DirHandle, progress: CopyProgress, onRefused: (refusal: Refusal) => void = () => undefined): Promise<number> {
  const files: { path: string; file: FileSystemFileHandle }[] = [];
  await walk(source, '', files, new ConfinedTree(), onRefused);
  const blobs = await Promise.all(files.map(async (f) => ({ path: f.path, blob: await f.file.getFile() })));
  const total = blobs.reduce((n, b) => n + b.blob.size, 0);
  let done = 0;
  progress(0, total, '');
  for (const { path, blob } of blobs) {
    const parts = path.split('/');
    const name = parts.pop()!;
    let dir: FileSystemDirectoryHandle = target;
    for (const part of parts) dir = await dir.getDirectoryHandle(part, { create: true });
    const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
    const reader = blob.stream().getReader();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      await writable.write(value);
      done += value.length;
      progress(done, total, path);
    }
    await writable.close();
  }
  progress(total, total, '');
  return total;
}
