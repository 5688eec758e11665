import type { DirHandle } from './fs-access.ts';

export interface CopyProgress {
  (doneBytes: number, totalBytes: number, current: string): void;
}

async function walk(dir: DirHandle, prefix: string, out: { path: string; file: FileSystemFileHandle }[]): Promise<void> {
  for await (const handle of dir.values()) {
    const path = prefix ? `${prefix}/${handle.name}` : handle.name;
    if (handle.kind === 'directory') await walk(handle as DirHandle, path, out);
    else out.push({ path, file: handle as FileSystemFileHandle });
  }
}

/**
 * Copies a folder tree into `target` (an OPFS folder), streaming each file; returns the bytes copied.
 * Sizes are read first so the progress bar is honest from the start.
 */
export async function copyTree(source: DirHandle, target: DirHandle, progress: CopyProgress): Promise<number> {
  const files: { path: string; file: FileSystemFileHandle }[] = [];
  await walk(source, '', files);
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
