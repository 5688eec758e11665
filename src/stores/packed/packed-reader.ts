import { StoreError } from '../errors.ts';
import type { DirHandleLike } from '../handle-backend.ts';
import type { DirectoryEntry, EntryStat, FileRead, FileSink, StorageBackend } from '../storage-backend.ts';
import { DirNode, type Catalogue, type FileNode } from './catalogue.ts';
import { decodeFrames } from './frame.ts';
import { blobName, journalName, loadState, packName, readWhole, replay, snapshotName } from './layout.ts';
import { blobFileOf, blobFileRead, readFileBytes, sliceChunks } from './read-file.ts';
import { catalogueFootprint, storeFileBytes, type StoreFootprint } from './footprint.ts';

/**
 * A read-only view of a packed store while (maybe) another worker writes it: no locks, no writes.
 * The catalogue is loaded once and changes only on `refresh()`, so everything read between two
 * refreshes comes from one moment of the store (packs are append-only, so old locations keep
 * their bytes until the writer deletes a pack; a read that finds its pack gone refreshes and
 * looks the path up again).
 */
export class PackedReader implements StorageBackend {
  private constructor(
    private readonly dir: DirHandleLike,
    private catalogue: Catalogue,
    private gen: number,
    private journalLength: number,
  ) {}

  static async open(dir: DirHandleLike): Promise<PackedReader> {
    const state = await loadState(dir);
    return new PackedReader(dir, state.catalogue, state.gen, state.journalLength);
  }

  /** Catches up with the writer: the journal's new records, or a whole reload after a new snapshot. */
  async refresh(): Promise<void> {
    const newer = await exists(this.dir, snapshotName(this.gen + 1));
    const journal = newer ? null : await readWhole(this.dir, journalName(this.gen));
    if (newer || journal === null) {
      const state = await loadState(this.dir);
      this.catalogue = state.catalogue;
      this.gen = state.gen;
      this.journalLength = state.journalLength;
      return;
    }
    if (!journal || journal.byteLength <= this.journalLength) return;
    const frames = decodeFrames(journal.subarray(this.journalLength));
    replay(this.catalogue, frames.values);
    this.journalLength += frames.validLength;
  }

  /** What the store holds, per device and version, as of now (catches up with the writer first). */
  async footprint(): Promise<StoreFootprint> {
    await this.refresh();
    return { ...catalogueFootprint(this.catalogue), onDisk: await storeFileBytes(this.dir) };
  }

  private fileNode(path: string): FileNode {
    const node = this.catalogue.lookup(path);
    if (!node) throw new StoreError('ENOENT', path);
    if (node instanceof DirNode) throw new StoreError('EISDIR', path);
    return node;
  }

  private async bytes(path: string, start: number, end: number): Promise<Uint8Array> {
    for (let attempt = 0; ; attempt++) {
      const node = this.fileNode(path);
      const from = Math.max(0, Math.min(start, node.size));
      const to = Math.max(from, Math.min(end, node.size));
      const name = node.blob ? blobName(node.store) : packName(node.store);
      const base = node.blob ? 0 : node.offset;
      try {
        return await readFileBytes(this.dir, name, base + from, base + to);
      } catch (e) {
        // The writer compacted or deleted that pack since our catalogue was loaded.
        if (!(e instanceof StoreError) || e.errno !== 'ENOENT' || attempt > 0) throw e;
        await this.refresh();
      }
    }
  }

  async stat(path: string): Promise<EntryStat | null> {
    return this.catalogue.stat(path);
  }

  async list(path: string): Promise<DirectoryEntry[]> {
    return this.catalogue.list(path);
  }

  readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    return this.bytes(path, start, end);
  }

  async *read(path: string, chunkSize: number): AsyncIterable<Uint8Array> {
    const node = this.fileNode(path);
    if (!node.blob) {
      yield* sliceChunks(await this.bytes(path, 0, node.size), chunkSize);
      return;
    }
    for (let at = 0; at < node.size; at += chunkSize) yield await this.bytes(path, at, Math.min(node.size, at + chunkSize));
  }

  /** A large file's blob file, or null (a packed file, or a blob the writer has removed since: use read). */
  async fileBlob(path: string): Promise<Blob | null> {
    return blobFileOf(this.dir, this.fileNode(path), path).catch(() => null);
  }

  /** A large file's blob file open read-only for synchronous reads, or null (see fileBlob). */
  async fileRead(path: string): Promise<FileRead | null> {
    return blobFileRead(this.dir, this.fileNode(path), path, { shared: true }).catch(() => null);
  }

  readAll(path: string): Promise<Uint8Array> {
    return this.bytes(path, 0, Number.MAX_SAFE_INTEGER);
  }

  private denied(path: string): never {
    throw new StoreError('EACCES', path, 'this view of the backup store is read-only');
  }

  async mkdirp(path: string): Promise<void> {
    this.denied(path);
  }
  async createFile(path: string): Promise<FileSink> {
    this.denied(path);
  }
  async append(path: string): Promise<void> {
    this.denied(path);
  }
  async rename(from: string): Promise<void> {
    this.denied(from);
  }
  async remove(path: string): Promise<void> {
    this.denied(path);
  }
  async freeSpace(): Promise<number> {
    return 0;
  }
}

async function exists(dir: DirHandleLike, name: string): Promise<boolean> {
  try {
    await dir.getFileHandle(name);
    return true;
  } catch {
    return false;
  }
}
