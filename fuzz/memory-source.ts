import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { DEFAULT_CHUNK_SIZE, type BackupSource, type SourceEntry, type SourceStat } from '../src/library/source/backup-source.ts';
import { MissingBackupFileError } from '../src/library/errors.ts';

/** A backup folder held in memory, so a fuzz target can swap one payload per execution. */
export class MemorySource implements BackupSource {
  readonly label = 'fuzz backup';
  constructor(readonly files: ReadonlyMap<string, Uint8Array>) {}

  static async load(dir: string): Promise<Map<string, Uint8Array>> {
    const files = new Map<string, Uint8Array>();
    const walk = async (at: string): Promise<void> => {
      for (const e of await readdir(at, { withFileTypes: true })) {
        const p = join(at, e.name);
        if (e.isDirectory()) await walk(p);
        else files.set(relative(dir, p), new Uint8Array(await readFile(p)));
      }
    };
    await walk(dir);
    return files;
  }

  private file(path: string): Uint8Array {
    const bytes = this.files.get(path);
    if (!bytes) throw new MissingBackupFileError(path);
    return bytes;
  }

  async list(path: string): Promise<SourceEntry[]> {
    const prefix = path === '' ? '' : `${path}/`;
    const out = new Map<string, SourceEntry['kind']>();
    for (const name of this.files.keys()) {
      if (!name.startsWith(prefix)) continue;
      const rest = name.slice(prefix.length).split('/');
      out.set(rest[0]!, rest.length > 1 ? 'directory' : 'file');
    }
    if (out.size === 0 && path !== '') throw new MissingBackupFileError(path);
    return [...out].map(([name, kind]) => ({ name, kind }));
  }

  async stat(path: string): Promise<SourceStat | null> {
    const bytes = this.files.get(path);
    if (bytes) return { kind: 'file', size: bytes.length };
    for (const name of this.files.keys()) if (name.startsWith(`${path}/`)) return { kind: 'directory', size: 0 };
    return null;
  }

  async readFile(path: string): Promise<Uint8Array> {
    return this.file(path).slice();
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    return this.file(path).slice(start, end);
  }

  async *stream(path: string, chunkSize = DEFAULT_CHUNK_SIZE): AsyncIterable<Uint8Array> {
    const bytes = this.file(path);
    for (let at = 0; at < bytes.length; at += chunkSize) yield bytes.slice(at, at + chunkSize);
  }
}
