import { StoreBusyError, StoreError } from '../errors.ts';
import { mapError, type DirHandleLike, type SyncAccessHandleLike } from '../handle-backend.ts';
import type { DirectoryEntry, EntryKind, EntryStat, FileRead, FileSink, StorageBackend } from '../storage-backend.ts';
import { Catalogue, DirNode, FileNode, toStoredTime, type CatalogueRecord, type Extent } from './catalogue.ts';
import { ByteArena } from './byte-arena.ts';
import { FrameBuffer } from './frame.ts';
import { encodeSnapshotFrame } from './snapshot-encoder.ts';
import { blobName, journalName, loadState, packName, parseName, snapshotName, usage } from './layout.ts';
import { blobFileOf, blobFileRead, readFileBytes, sliceChunks } from './read-file.ts';

export interface PackedBackendOptions {
  /** Reported to the device as free space. */
  freeSpace: () => Promise<number>;
  /** A pack is closed and a new one started once it holds this many bytes (default 64 MiB). */
  packSize?: number;
  /** Files larger than this go to a blob file of their own instead of a pack (default 1 MiB). */
  largeFileThreshold?: number;
  /** A snapshot replaces the journal once the journal is this big and twice the last snapshot (default 8 MiB). */
  snapshotAfter?: number;
  /** A pack less than half live with at least this many dead bytes is rewritten (default 16 MiB). */
  compactMinDead?: number;
  /**
   * Sync access handles are closed once the store has been idle this long (default 1 s) and reopened
   * on the next use: see `closeHandles` for why. Tests shorten it.
   */
  idleCloseMs?: number;
}

interface Pack {
  /** Bytes appended (live or dead), including any still buffered. */
  size: number;
  /** Bytes still referenced by the catalogue. */
  live: number;
}

/** Sync handles kept open for reading older packs. */
const READ_HANDLES = 32;
/** Buffered pack and journal bytes are written once they reach this much… */
const FLUSH_BYTES = 1024 * 1024;
/** …or this long after the first of them (bounds what a crash of the tab can lose). */
const FLUSH_DELAY_MS = 25;
/** Idle time after which every sync access handle is closed (see closeHandles). */
const IDLE_CLOSE_MS = 1000;

/**
 * A StorageBackend that packs many files into few OPFS files, because in Chromium every OPFS file
 * create/open/close is a round trip to the storage process (≈ 260 files/s) while appending to one
 * open sync access handle runs at ≈ 17,000 records/s. The namespace is an in-memory Catalogue,
 * persisted as an append-only journal (snapshot now and then); see README.md for the guarantees.
 * One writer only: sync access handles are exclusive. Readers use PackedReader.
 */
export class PackedBackend implements StorageBackend {
  /** A file enters the catalogue when its sink closes, and survives an unplug only once flushed. */
  readonly closesWhole = true;
  private readonly packSize: number;
  private readonly largeFileThreshold: number;
  private readonly snapshotAfter: number;
  private readonly compactMinDead: number;
  private readonly packs = new Map<number, Pack>();
  /** The pack small files are appended to; its handle is null while the store is idle (closeHandles). */
  private active: { id: number; handle: SyncAccessHandleLike | null } | null = null;
  /**
   * Every sync write is a system call (≈ 60 µs in Chromium), so small files and journal records are
   * gathered in memory and written in one call each: pack bytes first, then the records that point
   * at them. flush() (the session's sync(), before the device hears "done") writes them out.
   */
  private packBuffer: Uint8Array[] = [];
  private packBuffered = 0;
  private readonly journalFrames = new FrameBuffer();
  /** Where buffered pack bytes are joined for their one write; kept, since it is needed every flush. */
  private joinBuffer = new Uint8Array(0);
  /** Where small files' chunks are copied as they arrive (PackedSink). */
  readonly arena = new ByteArena();
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly readHandles = new Map<number, SyncAccessHandleLike>();
  private journalAt: number;
  private lastSnapshotSize = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The write failure that left memory ahead of the files; every later call fails with its errno. */
  private broken: StoreError | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private lastUse = 0;
  private readonly idleCloseMs: number;

  private constructor(
    private readonly dir: DirHandleLike,
    private readonly options: PackedBackendOptions,
    private readonly catalogue: Catalogue,
    private gen: number,
    /** Null while the store is idle (closeHandles); reopened by exclusive(). */
    private journal: SyncAccessHandleLike | null,
    journalAt: number,
    /** Releases the writer's lock (Web Locks) while the handles are open; null while idle. */
    private unlock: (() => void) | null,
  ) {
    this.packSize = options.packSize ?? 64 * 1024 * 1024;
    this.largeFileThreshold = options.largeFileThreshold ?? 1024 * 1024;
    this.snapshotAfter = options.snapshotAfter ?? 8 * 1024 * 1024;
    this.compactMinDead = options.compactMinDead ?? 16 * 1024 * 1024;
    this.idleCloseMs = options.idleCloseMs ?? IDLE_CLOSE_MS;
    this.journalAt = journalAt;
  }

  /** Whether `dir` offers sync access handles (OPFS in a dedicated worker). */
  static async supported(dir: DirHandleLike): Promise<boolean> {
    const probe = await dir.getFileHandle(journalName(0), { create: true });
    return typeof probe.createSyncAccessHandle === 'function';
  }

  /** Opens (or creates) the store in `dir` for writing: replays the journal, drops a torn tail and orphan files. */
  static async open(dir: DirHandleLike, options: PackedBackendOptions): Promise<PackedBackend> {
    // Sync access handles are closed when idle, so they cannot be the only writer's lock: a Web Lock
    // is held with them (and, like them, let go when idle: a reloaded page's old worker may be frozen
    // in the back/forward cache and would otherwise hold it for good).
    const unlock = await writerLock(dir.name);
    try {
      const state = await loadState(dir);
      const journalHandle = await dir.getFileHandle(journalName(state.gen), { create: true });
      if (!journalHandle.createSyncAccessHandle) throw new StoreError('EACCES', journalName(state.gen), 'sync access handles are not available here');
      let journal: SyncAccessHandleLike;
      try {
        journal = await journalHandle.createSyncAccessHandle();
      } catch (e) {
        const name = (e as { name?: string }).name;
        if (name === 'NoModificationAllowedError' || name === 'InvalidStateError') throw new StoreBusyError(dir.name, e);
        throw mapError(e, journalName(state.gen));
      }
      // Only a torn tail is cut: truncating a journal to the length it has is a no-op we skip.
      if (journal.getSize() !== state.journalLength) journal.truncate(state.journalLength);
      const backend = new PackedBackend(dir, options, state.catalogue, state.gen, journal, state.journalLength, unlock);
      await backend.tidy(state.names);
      backend.scheduleIdleClose();
      return backend;
    } catch (e) {
      unlock();
      throw e;
    }
  }

  /** Deletes what the catalogue does not reference (older generations, orphan packs and blobs) and sizes the packs. */
  private async tidy(names: string[]): Promise<void> {
    const used = usage(this.catalogue.root, this.catalogue);
    for (const name of names) {
      const p = parseName(name);
      if (!p) continue;
      const keep =
        (p.kind === 'pack' && used.packs.has(p.n)) ||
        (p.kind === 'blob' && used.blobs.has(p.n)) ||
        ((p.kind === 'journal' || p.kind === 'snapshot') && p.n === this.gen);
      if (!keep) await this.dir.removeEntry(name).catch(() => undefined);
      if (p.kind === 'pack' || p.kind === 'blob') this.catalogue.nextId = Math.max(this.catalogue.nextId, p.n + 1);
    }
    for (const [id, live] of used.packs) {
      const file = await (await this.dir.getFileHandle(packName(id))).getFile();
      this.packs.set(id, { size: file.size, live });
    }
  }

  /**
   * Closes every handle and releases the writer's lock; the instance is unusable afterwards. Works
   * after a failed write too (what was flushed stays; a reopen continues from there).
   */
  async close(): Promise<void> {
    await this.tail;
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    try {
      if (!this.broken) this.flushNow();
    } finally {
      this.releaseHandles();
    }
  }

  /** Whether a write failed (quota, disk): the instance must be closed and the store reopened. */
  get failed(): StoreError | null {
    return this.broken;
  }

  /**
   * Closes every sync access handle, as when idle. Why: when the browser shuts down while a sync
   * access handle is open, Chromium never counts that file's bytes in the origin's usage (reproduced
   * in Chromium 156: 4.5 MB written through handles left open, usage 314 bytes after a restart).
   * Each later delete or shrink of such a file then subtracts bytes the count never had, and the
   * count goes below zero (the Library once read 4,294,882,810 bytes = 2^32 − 84,486). A store
   * that waits for a passcode, or for the next backup, with its handles closed leaves nothing to
   * forget. Sizes are committed to the count on close().
   */
  private closeHandles(): void {
    try {
      if (!this.broken) this.flushNow();
    } finally {
      this.releaseHandles();
    }
  }

  private releaseHandles(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    this.active?.handle?.close();
    if (this.active) this.active.handle = null;
    for (const h of this.readHandles.values()) h.close();
    this.readHandles.clear();
    this.journal?.close();
    this.journal = null;
    this.unlock?.();
    this.unlock = null;
  }

  /**
   * Reopens what closeHandles closed: the lock, then the journal and the active pack (no truncation:
   * their sizes are known). Another writer may have had the store meanwhile (another tab): then the
   * catalogue in memory is stale, and this instance refuses to go on (the caller reopens the store).
   */
  private async reopenHandles(): Promise<void> {
    if (!this.unlock) {
      this.unlock = await writerLock(this.dir.name);
      const journal = await this.dir.getFileHandle(journalName(this.gen)).then((h) => h.getFile()).catch(() => null);
      const newer = await this.dir.getFileHandle(snapshotName(this.gen + 1)).then(() => true, () => false);
      if (!journal || journal.size !== this.journalAt || newer) {
        this.broken = new StoreBusyError(this.dir.name);
        throw this.broken;
      }
    }
    this.journal ??= await openSync(this.dir, journalName(this.gen));
    if (this.active && !this.active.handle) this.active.handle = await openSync(this.dir, packName(this.active.id));
  }

  /** Notes a use; one timer (re-armed when it fires early, not per call) closes the handles once idle. */
  private scheduleIdleClose(): void {
    this.lastUse = Date.now();
    if (this.idleTimer) return;
    const arm = (delay: number): void => {
      this.idleTimer = setTimeout(() => {
        const idleFor = Date.now() - this.lastUse;
        if (idleFor < this.idleCloseMs) return arm(this.idleCloseMs - idleFor);
        this.idleTimer = null;
        void this.exclusive(() => this.closeHandles(), true).catch(() => undefined);
      }, delay);
      // Node (CLI, tests): an idle store must not keep the process alive.
      (this.idleTimer as { unref?: () => void }).unref?.();
    };
    arm(this.idleCloseMs);
  }

  // ---- serialisation and the journal -------------------------------------------------------------

  /** Runs `fn` after every earlier mutation: pack rolls, snapshots and compaction span awaits. */
  private exclusive<T>(fn: () => Promise<T> | T, idle = false): Promise<T> {
    const run = this.tail.then(async () => {
      if (this.closed) throw new StoreError('EIO', this.dir.name, 'the backup store was closed');
      if (this.broken) throw new StoreError(this.broken.errno, this.dir.name, `the backup store failed earlier and must be reopened: ${this.broken.message}`, this.broken);
      if (idle) return fn();
      try {
        if (!this.unlock || !this.journal || (this.active && !this.active.handle)) await this.reopenHandles();
        return await fn();
      } finally {
        this.scheduleIdleClose();
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private record(rec: CatalogueRecord): void {
    this.journalFrames.append(rec);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.packBuffered + this.journalFrames.length >= FLUSH_BYTES) {
      this.flushNow();
      return;
    }
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      void this.exclusive(() => this.flushNow()).catch(() => undefined);
    }, FLUSH_DELAY_MS);
  }

  /** Writes buffered pack bytes, then buffered journal records (data before what references it). */
  private flushNow(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    try {
      if (this.packBuffered > 0 && this.active) {
        const pack = this.packs.get(this.active.id)!;
        writeAll(this.active.handle!, this.joinedPackBuffer(), pack.size - this.packBuffered, packName(this.active.id));
        for (const piece of this.packBuffer) this.arena.release(piece);
      }
      this.packBuffer = [];
      this.packBuffered = 0;
      if (this.journalFrames.length > 0) {
        const bytes = this.journalFrames.bytes();
        writeAll(this.journal!, bytes, this.journalAt, journalName(this.gen));
        this.journalAt += bytes.byteLength;
      }
      this.journalFrames.clear();
    } catch (e) {
      // Memory already holds changes the files do not: stop rather than diverge further. The files
      // hold everything flushed before, so a reopen continues from there (the unreferenced tail of a
      // pack is never read; the journal's torn tail is cut).
      this.broken = mapError(e, journalName(this.gen));
      throw this.broken;
    }
  }

  /** The buffered pack bytes as one array (a view of joinBuffer unless there is only one piece). */
  private joinedPackBuffer(): Uint8Array {
    if (this.packBuffer.length === 1) return this.packBuffer[0]!;
    if (this.joinBuffer.byteLength < this.packBuffered) this.joinBuffer = new Uint8Array(Math.max(this.packBuffered, 2 * FLUSH_BYTES));
    let at = 0;
    for (const c of this.packBuffer) {
      this.joinBuffer.set(c, at);
      at += c.byteLength;
    }
    return this.joinBuffer.subarray(0, at);
  }

  /** Makes every change so far durable against an unplug (the session calls it before acknowledging the device). */
  flush(): Promise<void> {
    return this.exclusive(() => this.flushNow());
  }

  /** Appends a file's pieces to the active pack's buffer (held, not copied); returns the offset. */
  private appendToPack(pack: Pack, pieces: readonly Uint8Array[]): number {
    const offset = pack.size;
    for (const bytes of pieces) {
      this.packBuffer.push(bytes);
      this.packBuffered += bytes.byteLength;
      pack.size += bytes.byteLength;
    }
    return offset;
  }

  private async maybeSnapshot(): Promise<void> {
    const journalSize = this.journalAt + this.journalFrames.length;
    if (journalSize < this.snapshotAfter || journalSize < 2 * this.lastSnapshotSize) return;
    // Everything the snapshot describes must be on disk first.
    this.flushNow();
    const gen = this.gen + 1;
    const snapshot = encodeSnapshotFrame(this.catalogue);
    const snapHandle = await (await this.dir.getFileHandle(snapshotName(gen), { create: true })).createSyncAccessHandle!();
    try {
      snapHandle.truncate(0);
      writeAll(snapHandle, snapshot, 0, snapshotName(gen));
    } finally {
      snapHandle.close();
    }
    // The snapshot is whole before the new journal exists; loadState prefers the newest whole one.
    const journal = await (await this.dir.getFileHandle(journalName(gen), { create: true })).createSyncAccessHandle!();
    journal.truncate(0);
    this.journal!.close();
    const oldGen = this.gen;
    this.journal = journal;
    this.journalAt = 0;
    this.gen = gen;
    this.lastSnapshotSize = snapshot.byteLength;
    await this.dir.removeEntry(journalName(oldGen)).catch(() => undefined);
    await this.dir.removeEntry(snapshotName(oldGen)).catch(() => undefined);
  }

  private allocateId(): number {
    const id = this.catalogue.nextId;
    this.catalogue.nextId = id + 1;
    this.record(['N', id + 1]);
    return id;
  }

  // ---- space accounting ----------------------------------------------------------------------

  /** Collects what a catalogue change released; `settle` deletes emptied packs and unused blobs. */
  private releaser(): { release: (e: Extent) => void; settle: () => Promise<void> } {
    const blobs: number[] = [];
    const emptied: number[] = [];
    return {
      release: (e) => {
        if (e.blob) {
          blobs.push(e.store);
          return;
        }
        const pack = this.packs.get(e.store);
        if (!pack) return;
        pack.live -= e.size;
        if (pack.live <= 0 && this.active?.id !== e.store) emptied.push(e.store);
      },
      settle: async () => {
        for (const id of blobs) await this.dir.removeEntry(blobName(id)).catch(() => undefined);
        for (const id of emptied) await this.dropPack(id);
      },
    };
  }

  private async dropPack(id: number): Promise<void> {
    this.readHandles.get(id)?.close();
    this.readHandles.delete(id);
    this.packs.delete(id);
    await this.dir.removeEntry(packName(id)).catch(() => undefined);
  }

  /** The active pack, with room for `bytes` more (a new one is started when it is full). */
  private async packFor(bytes: number): Promise<{ id: number; pack: Pack }> {
    if (this.active) {
      const pack = this.packs.get(this.active.id)!;
      if (pack.size === 0 || pack.size + bytes <= this.packSize) return { id: this.active.id, pack };
      this.flushNow();
      const old = this.active;
      this.active = null;
      old.handle?.close();
      if (pack.live <= 0) await this.dropPack(old.id);
    }
    const id = this.allocateId();
    const handle = await (await this.dir.getFileHandle(packName(id), { create: true })).createSyncAccessHandle!();
    handle.truncate(0);
    const pack: Pack = { size: 0, live: 0 };
    this.packs.set(id, pack);
    this.active = { id, handle };
    return { id, pack };
  }

  /** Writes `pieces` (`size` bytes in all) into the active pack and records them as the file at `path`. */
  private async storePacked(path: string, pieces: readonly Uint8Array[], size: number, mtime: number): Promise<void> {
    this.catalogue.directory(parentOf(path)); // fail before writing if the folder went away
    const { id, pack } = await this.packFor(size);
    const offset = this.appendToPack(pack, pieces);
    await this.setFile(path, new FileNode(id, offset, size, mtime, false));
    pack.live += size;
  }

  private async setFile(path: string, node: FileNode): Promise<void> {
    const r = this.releaser();
    this.catalogue.setFile(path, node, r.release);
    this.record(['F', path, node.store, node.offset, node.size, node.mtime, node.blob ? 1 : 0]);
    await r.settle();
    await this.maybeSnapshot();
  }

  // ---- reads ---------------------------------------------------------------------------------

  private fileNode(path: string): FileNode {
    const node = this.catalogue.lookup(path);
    if (!node) throw new StoreError('ENOENT', path);
    if (node instanceof DirNode) throw new StoreError('EISDIR', path);
    return node;
  }

  private async packHandle(id: number): Promise<SyncAccessHandleLike> {
    if (this.active?.id === id) {
      this.flushNow();
      return this.active.handle!;
    }
    const known = this.readHandles.get(id);
    if (known) {
      this.readHandles.delete(id);
      this.readHandles.set(id, known); // most recently used last
      return known;
    }
    if (this.readHandles.size >= READ_HANDLES) {
      const [oldest, h] = this.readHandles.entries().next().value as [number, SyncAccessHandleLike];
      h.close();
      this.readHandles.delete(oldest);
    }
    const handle = await (await this.dir.getFileHandle(packName(id))).createSyncAccessHandle!();
    this.readHandles.set(id, handle);
    return handle;
  }

  /**
   * Bytes [start, end) of the packed file at `path`, read through the writer's sync handles. The file
   * is looked up once its turn comes: a compaction queued before it may have moved it.
   */
  private readPacked(path: string, start: number, end: number): Promise<Uint8Array> {
    return this.exclusive(async () => {
      const node = this.fileNode(path);
      if (node.blob) return readFileBytes(this.dir, blobName(node.store), Math.min(start, node.size), Math.min(end, node.size));
      end = Math.min(end, node.size);
      start = Math.min(start, end);
      const handle = await this.packHandle(node.store);
      const out = new Uint8Array(end - start);
      let done = 0;
      while (done < out.byteLength) {
        const n = handle.read(out.subarray(done), { at: node.offset + start + done });
        if (n <= 0) throw new StoreError('EIO', packName(node.store), 'pack is shorter than its catalogue says');
        done += n;
      }
      return out;
    });
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    const node = this.fileNode(path);
    const from = Math.max(0, Math.min(start, node.size));
    const to = Math.max(from, Math.min(end, node.size));
    if (node.blob) return readFileBytes(this.dir, blobName(node.store), from, to);
    return this.readPacked(path, from, to);
  }

  async *read(path: string, chunkSize: number, scratch?: Uint8Array): AsyncIterable<Uint8Array> {
    const node = this.fileNode(path);
    if (!node.blob) {
      // Small by construction: read whole, so a later compaction cannot move it mid-stream.
      yield* sliceChunks(await this.readPacked(path, 0, node.size), chunkSize);
      return;
    }
    // Read synchronously where a read-only handle can be had (OPFS, in a worker): a File read is an
    // asynchronous trip to the browser per chunk (1 MiB slices: 126 MB/s in Chromium here, a sync handle
    // 328 MB/s), paid for a huge phone's 1.19 GB Manifest.db at each incremental. Each chunk is fresh
    // memory the consumer owns, unless it lent `scratch` for them.
    const direct = await blobFileRead(this.dir, node, path);
    if (direct) {
      try {
        for (let at = 0; at < node.size; at += chunkSize) {
          const size = Math.min(chunkSize, node.size - at);
          const chunk = scratch && scratch.byteLength >= size ? scratch.subarray(0, size) : new Uint8Array(size);
          if (direct.read(chunk, at) !== chunk.byteLength) throw new StoreError('EIO', path, `its blob ended before byte ${at + chunk.byteLength}`);
          yield chunk;
        }
      } finally {
        direct.close();
      }
      return;
    }
    // One File for the whole read (a blob file is written once and never appended to): a handle and a
    // File asked for again per chunk were two trips to the browser each MiB of a 1.19 GB Manifest.db.
    let file: Blob | null;
    try {
      file = await blobFileOf(this.dir, node, path);
    } catch (e) {
      throw mapError(e, blobName(node.store));
    }
    for (let at = 0; file && at < node.size; at += chunkSize) {
      let chunk: Uint8Array;
      try {
        chunk = new Uint8Array(await file.slice(at, Math.min(node.size, at + chunkSize)).arrayBuffer());
      } catch (e) {
        throw mapError(e, blobName(node.store));
      }
      yield chunk;
    }
  }

  async readAll(path: string): Promise<Uint8Array> {
    const node = this.fileNode(path);
    return this.readRange(path, 0, node.size);
  }

  /** A large file's blob file (written once, never appended to); null for a packed one (packs grow). */
  async fileBlob(path: string): Promise<Blob | null> {
    return blobFileOf(this.dir, this.fileNode(path), path);
  }

  /** A large file's blob file open read-only for synchronous reads; null for a packed one or where no such handle can be had. */
  async fileRead(path: string): Promise<FileRead | null> {
    return blobFileRead(this.dir, this.fileNode(path), path, { shared: true });
  }

  // ---- namespace -----------------------------------------------------------------------------

  async stat(path: string): Promise<EntryStat | null> {
    return this.catalogue.stat(path);
  }

  async entryKind(path: string): Promise<EntryKind | null> {
    return this.catalogue.entryKind(path);
  }

  async list(path: string): Promise<DirectoryEntry[]> {
    return this.catalogue.list(path);
  }

  mkdirp(path: string): Promise<void> {
    return this.exclusive(async () => {
      if (this.catalogue.mkdirp(path)) {
        this.record(['D', path]);
        await this.maybeSnapshot();
      }
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.exclusive(async () => {
      const r = this.releaser();
      this.catalogue.rename(from, to, r.release);
      this.record(['R', from, to]);
      await r.settle();
      await this.maybeSnapshot();
    });
  }

  remove(path: string): Promise<void> {
    return this.exclusive(async () => {
      if (!this.catalogue.lookup(path)) return;
      const r = this.releaser();
      this.catalogue.remove(path, r.release);
      this.record(['X', path]);
      await r.settle();
      await this.compactIfWorthIt();
      await this.maybeSnapshot();
    });
  }

  append(path: string, bytes: Uint8Array): Promise<void> {
    return this.exclusive(async () => {
      const node = this.catalogue.lookup(path);
      if (node instanceof DirNode) throw new StoreError('EISDIR', path);
      let whole = bytes;
      if (node) {
        const old = node.blob ? await readFileBytes(this.dir, blobName(node.store), 0, node.size) : await this.readPackedNow(node);
        whole = new Uint8Array(old.byteLength + bytes.byteLength);
        whole.set(old);
        whole.set(bytes, old.byteLength);
      }
      await this.storePacked(path, [whole], whole.byteLength, toStoredTime(Date.now()));
    });
  }

  /** readPacked for callers already inside exclusive(). */
  private async readPackedNow(node: FileNode): Promise<Uint8Array> {
    const handle = await this.packHandle(node.store);
    const out = new Uint8Array(node.size);
    let done = 0;
    while (done < out.byteLength) {
      const n = handle.read(out.subarray(done), { at: node.offset + done });
      if (n <= 0) throw new StoreError('EIO', packName(node.store), 'pack is shorter than its catalogue says');
      done += n;
    }
    return out;
  }

  async createFile(path: string): Promise<FileSink> {
    const parent = this.catalogue.lookup(parentOf(path));
    if (!parent) throw new StoreError('ENOENT', path);
    if (!(parent instanceof DirNode)) throw new StoreError('ENOTDIR', path);
    if (this.catalogue.lookup(path) instanceof DirNode) throw new StoreError('EISDIR', path);
    return new PackedSink(this, path, this.largeFileThreshold);
  }

  /** PackedSink's way in: a small file's whole content, in pieces nobody else writes to. */
  commitSmall(path: string, pieces: readonly Uint8Array[], size: number): Promise<void> {
    return this.exclusive(() => this.storePacked(path, pieces, size, toStoredTime(Date.now())));
  }

  /** PackedSink's way in: a new blob file for a large file, opened for writing. */
  openBlob(): Promise<{ id: number; handle: SyncAccessHandleLike }> {
    return this.exclusive(async () => {
      const id = this.allocateId();
      const handle = await (await this.dir.getFileHandle(blobName(id), { create: true })).createSyncAccessHandle!();
      handle.truncate(0);
      return { id, handle };
    });
  }

  commitBlob(path: string, id: number, size: number): Promise<void> {
    return this.exclusive(() => this.setFile(path, new FileNode(id, 0, size, toStoredTime(Date.now()), true)));
  }

  dropBlob(id: number): Promise<void> {
    return this.dir.removeEntry(blobName(id)).catch(() => undefined);
  }

  freeSpace(): Promise<number> {
    return this.options.freeSpace();
  }

  // ---- compaction ----------------------------------------------------------------------------

  /** Bytes in pack and blob files (live or dead), for tests and the bench. */
  packedBytes(): { total: number; live: number; packs: number } {
    let total = 0;
    let live = 0;
    for (const p of this.packs.values()) {
      total += p.size;
      live += p.live;
    }
    return { total, live, packs: this.packs.size };
  }

  /**
   * Bytes the store's files take, from its own bookkeeping (packs as appended, blobs from the
   * catalogue, journal and snapshot): the floor under any usage figure the browser reports.
   */
  storedBytes(): number {
    let total = this.journalAt + this.journalFrames.length + this.lastSnapshotSize;
    for (const p of this.packs.values()) total += p.size;
    for (const [, f] of this.catalogue.files()) if (f.blob) total += f.size;
    return total;
  }

  /** Bytes of the files under `path` (from the catalogue), undefined when there is no such folder. */
  bytesUnder(path: string): number | undefined {
    const node = this.catalogue.lookup(path);
    if (!(node instanceof DirNode)) return undefined;
    let total = 0;
    for (const [, f] of this.catalogue.files(node)) total += f.size;
    return total;
  }

  /** Rewrites every mostly-dead pack into the active one, so pruned versions give their bytes back. */
  compact(): Promise<void> {
    return this.exclusive(() => this.compactIfWorthIt(true));
  }

  private async compactIfWorthIt(force = false): Promise<void> {
    const victims = new Set<number>();
    for (const [id, p] of this.packs) {
      if (id === this.active?.id) continue;
      const dead = p.size - p.live;
      if (p.live * 2 <= p.size && (force ? dead > 0 : dead >= this.compactMinDead)) victims.add(id);
    }
    if (victims.size === 0) return;
    const moving: [string, FileNode][] = [];
    for (const entry of this.catalogue.files()) if (!entry[1].blob && victims.has(entry[1].store)) moving.push(entry);
    for (const [path, node] of moving) {
      const bytes = await this.readPackedNow(node);
      const { id, pack } = await this.packFor(bytes.byteLength);
      const offset = this.appendToPack(pack, [bytes]);
      this.record(['F', path, id, offset, node.size, node.mtime, 0]);
      this.packs.get(node.store)!.live -= node.size;
      // Same file, new place: the old extent is accounted for just above, so nothing is released.
      this.catalogue.setFile(path, new FileNode(id, offset, node.size, node.mtime, false), () => undefined);
      pack.live += bytes.byteLength;
    }
    // The copies and their records must be on disk before the originals go.
    this.flushNow();
    for (const id of victims) await this.dropPack(id);
  }
}

/** Buffers a small file in memory and packs it on close; past the threshold it streams into a blob. */
class PackedSink implements FileSink {
  /** write() copies a small file's chunk into the arena, or writes a large one's out, before it returns. */
  readonly chunksReusable = true;
  private chunks: Uint8Array[] = [];
  private size = 0;
  private blob: { id: number; handle: SyncAccessHandleLike } | null = null;
  private done = false;

  constructor(
    private readonly backend: PackedBackend,
    private readonly path: string,
    private readonly threshold: number,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new StoreError('EIO', this.path, 'file already closed');
    if (this.blob) {
      writeAll(this.blob.handle, chunk, this.size, this.path);
      this.size += chunk.byteLength;
      return;
    }
    // Copied: the caller may reuse its buffer once write() returns.
    this.chunks.push(this.backend.arena.copy(chunk));
    this.size += chunk.byteLength;
    if (this.size > this.threshold) {
      this.blob = await this.backend.openBlob();
      let at = 0;
      for (const c of this.chunks) {
        writeAll(this.blob.handle, c, at, this.path);
        this.backend.arena.release(c);
        at += c.byteLength;
      }
      this.chunks = [];
    }
  }

  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.blob) {
      this.blob.handle.close();
      try {
        await this.backend.commitBlob(this.path, this.blob.id, this.size);
      } catch (e) {
        await this.backend.dropBlob(this.blob.id);
        throw e;
      }
      return;
    }
    const pieces = this.chunks;
    this.chunks = [];
    await this.backend.commitSmall(this.path, pieces, this.size);
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    for (const c of this.chunks) this.backend.arena.release(c);
    this.chunks = [];
    if (this.blob) {
      this.blob.handle.close();
      await this.backend.dropBlob(this.blob.id);
    }
  }
}

/**
 * Writes all of `bytes` or throws. A full quota is ENOSPC however the browser says it: Chromium
 * (156, measured) neither throws QuotaExceededError nor returns a short count, but returns
 * 0xFFFFFFF8 (its FILE_ERROR_NO_SPACE, −8, as an unsigned count), more than it was given, after
 * writing part of it; a write that makes no progress is a full disk too.
 */
export function writeAll(handle: SyncAccessHandleLike, bytes: Uint8Array, at: number, name: string): void {
  let done = 0;
  while (done < bytes.byteLength) {
    let n: number;
    try {
      n = handle.write(bytes.subarray(done), { at: at + done });
    } catch (e) {
      throw mapError(e, name);
    }
    if (n > bytes.byteLength - done || n <= 0) throw new StoreError('ENOSPC', name, 'the browser refused to store more: the space it allows this site is used up');
    done += n;
  }
}

/** An existing store file's sync access handle, with the browser's errors as StoreErrors. */
async function openSync(dir: DirHandleLike, name: string): Promise<SyncAccessHandleLike> {
  try {
    return await (await dir.getFileHandle(name)).createSyncAccessHandle!();
  } catch (e) {
    const n = (e as { name?: string }).name;
    if (n === 'NoModificationAllowedError') throw new StoreBusyError(dir.name, e);
    throw mapError(e, name);
  }
}

/** How long opening waits for another writer to let go (a reloaded page's old worker is still ending). */
const LOCK_WAIT_MS = 5000;

/**
 * The writer's lock on the store (Web Locks, held until close): StoreBusyError when another tab or
 * worker still holds it after LOCK_WAIT_MS. Where there are no Web Locks (Node, tests), the open
 * journal handle alone excludes a second writer while the first is busy.
 */
async function writerLock(name: string): Promise<() => void> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (!locks) return () => undefined;
  return new Promise((resolve, reject) => {
    locks
      .request(`lifeboat-store:${name}`, { signal: AbortSignal.timeout(LOCK_WAIT_MS) }, () => new Promise<void>((release) => resolve(() => release())))
      .catch((e: unknown) => reject((e as { name?: string }).name === 'TimeoutError' || (e as { name?: string }).name === 'AbortError' ? new StoreBusyError(name, e) : e));
  });
}

function parentOf(path: string): string {
  const clean = path.endsWith('/') ? path.slice(0, -1) : path;
  const i = clean.lastIndexOf('/');
  return i < 0 ? '' : clean.slice(0, i);
}
