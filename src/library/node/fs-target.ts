import { createWriteStream } from 'node:fs';
import { mkdir, symlink, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ByteSink, ExportTarget } from '../export/byte-sink.ts';
import { normalisePath } from '../errors.ts';

/** A Node file as a ByteSink, with back-pressure; abort() closes it and removes the partial file. */
export function fileSink(path: string): ByteSink & { abort(): Promise<void> } {
  const stream = createWriteStream(path);
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        stream.write(bytes, (error) => (error ? reject(error) : resolve()));
      }),
    close: () => new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve()))),
    abort: async () => {
      if (!stream.closed) await new Promise<void>((resolve) => stream.destroy().once('close', () => resolve()));
      await rm(path, { force: true });
    },
  };
}

/** Exports into a folder on disk (CLI extract, tests). */
export class NodeFsTarget implements ExportTarget {
  constructor(private readonly root: string) {}
  private full(path: string): string {
    return join(this.root, normalisePath(path));
  }
  async mkdir(path: string): Promise<void> {
    await mkdir(this.full(path), { recursive: true });
  }
  async symlink(path: string, target: string): Promise<void> {
    const full = this.full(path);
    await mkdir(dirname(full), { recursive: true });
    await rm(full, { force: true });
    await symlink(target, full);
  }
  async writeFile(path: string, data: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
    const full = this.full(path);
    await mkdir(dirname(full), { recursive: true });
    const sink = fileSink(full);
    try {
      if (data instanceof Uint8Array) await sink.write(data);
      else for await (const chunk of data) await sink.write(chunk);
      await sink.close();
    } catch (error) {
      // A payload that fails half-way (damaged, cancelled) must not leave an open descriptor or a
      // truncated file that looks like a good copy.
      await sink.abort();
      throw error;
    }
  }
}
