import { BackupBeingSavedError, StoreError } from './errors.ts';
import { baseName, joinPath, normalizePath, parentPath, selfAndAncestors } from './paths.ts';
import type { BackupSession, BackupStore, BackupTree, BackupVersion } from './backup-store.ts';
import { readRangeOf, writeWhole, type AppendLog, type DirectoryEntry, type EntryKind, type EntryStat, type FileRead, type FileSink, type FileSinkNow, type StorageBackend } from './storage-backend.ts';
import { OwnedTreeIndex, ReadOnlyTreeIndex } from './tree-index.ts';
import { forEachConcurrently } from './concurrency.ts';
import { collectBytes } from '../core/bytes.ts';

/** Hidden bookkeeping folder next to the device folders (Finder ignores it). See README.md for the shape. */
export const META_DIR = '.lifeboat';
/** In staging: the paths of files written in place since the last sync, one JSON string a line. */
const UNFINISHED_LOG = 'unfinished.jsonl';
const READ_CHUNK = 256 * 1024;
/**
 * In a version folder: the version is past keepVersions and only waits to be deleted. It goes last, so
 * a deletion cut short never leaves a half-deleted version that looks whole.
 */
export const DISCARDED_MARKER = 'discarded';
/** File moves in flight at once during a commit's roll-forward. */
const MOVE_CONCURRENCY = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface CommitPlan {
  /** The displaced state's version id, or null when there was no previous backup. */
  versionId: string | null;
  /** Current paths the staged backup deletes (or replaces wholesale); displaced before staged files move in. */
  whiteouts: string[];
  seq: number;
  date: string;
}

interface CurrentInfo {
  seq: number;
  date: string;
}

interface VersionInfo {
  id: string;
  seq: number;
  date: string;
}

export interface VersionedBackupStoreOptions {
  /** Earlier complete backups kept per device (default 3). */
  keepVersions?: number;
  /**
   * A view for a second reader (the library worker) while the writer works: nothing is written,
   * interrupted commits are not finished (a backup mid-commit is a BackupBeingSavedError), and
   * `refresh` (the backend catching up with the writer) runs before each store-level call.
   */
  readOnly?: { refresh(): Promise<void> };
}

/**
 * A backup store with Finder's layout for the current backup, a staging overlay for the backup in
 * progress, and earlier backups kept as reverse deltas. Platform-independent: everything goes
 * through a StorageBackend.
 */
export class VersionedBackupStore implements BackupStore {
  private keepVersions: number;
  private readonly openSessions = new Set<string>();
  /** Per device: the deletion of discarded versions, started in the background when the last session opened. */
  private readonly discarding = new Map<string, Promise<void>>();
  /** Per device: why the last deletion of discarded versions failed; cleared when one succeeds. */
  private readonly discardFailures = new Map<string, string>();
  private readonly readOnly: { refresh(): Promise<void> } | undefined;

  constructor(
    readonly kind: BackupStore['kind'],
    protected readonly backend: StorageBackend,
    options: VersionedBackupStoreOptions = {},
  ) {
    this.keepVersions = options.keepVersions ?? 3;
    this.readOnly = options.readOnly;
  }

  private writable(udid: string): void {
    if (this.readOnly) throw new StoreError('EACCES', udid, 'this view of the backup store is read-only');
  }

  /** Writer: finishes an interrupted commit. Reader: catches up, and refuses a backup mid-commit. */
  private async settle(udid: string): Promise<void> {
    if (!this.readOnly) return this.recover(udid);
    await this.readOnly.refresh();
    if (await this.backend.stat(joinPath(metaDir(udid), 'commit.json'))) throw new BackupBeingSavedError(udid);
  }

  /** How many earlier backups each device keeps from the next commit on (the person's choice). */
  setKeepVersions(count: number): void {
    if (!Number.isInteger(count) || count < 0 || count > 100) throw new StoreError('EINVAL', String(count), 'keep between 0 and 100 earlier backups');
    this.keepVersions = count;
  }

  async openSession(udid: string, options: { resume?: boolean } = {}): Promise<BackupSession> {
    checkUdid(udid);
    this.writable(udid);
    if (this.openSessions.has(udid)) throw new StoreError('EEXIST', udid, 'a backup of this device is already running');
    await this.recover(udid);
    const staging = stagingDir(udid);
    const resuming = options.resume === true && (await this.backend.stat(joinPath(staging, 'data'))) !== null;
    if (!options.resume) await this.backend.remove(staging);
    await this.backend.remove(joinPath(staging, 'tmp'));
    await this.backend.mkdirp(joinPath(staging, 'data'));
    await this.backend.mkdirp(joinPath(staging, 'tmp'));
    const unfinished = joinPath(staging, UNFINISHED_LOG);
    if (resuming) await dropUnfinished(this.backend, unfinished, joinPath(staging, 'data'));
    const stagedIndex = resuming ? await OwnedTreeIndex.load(this.backend, joinPath(staging, 'data')) : new OwnedTreeIndex();
    // A torn last line of the journal is an unplug mid-append: the change it described was never acknowledged.
    const whiteouts = new Set<string>(journalPaths(await readPathLines(this.backend, joinPath(staging, 'whiteouts.jsonl'))));
    // New files go straight to their staged place when an unplug cannot leave part of one there unseen.
    const unfinishedLog = this.backend.closesWhole ? null : ((await this.backend.openLog?.(unfinished)) ?? null);
    const writesInPlace = this.backend.closesWhole === true || unfinishedLog !== null;
    this.openSessions.add(udid);
    this.startDeletingDiscarded(udid);
    return new StagedSession(this.backend, udid, whiteouts, stagedIndex, { writesInPlace, unfinishedLog }, {
      commit: async (session) => {
        await this.commitStaging(udid, session.whiteoutList());
        this.openSessions.delete(udid);
        const failure = this.discardFailures.get(udid);
        return failure === undefined
          ? []
          : [`An earlier backup past the number kept could not be deleted (${failure}). It is hidden but still takes space; the next backup tries again.`];
      },
      close: () => this.openSessions.delete(udid),
    });
  }

  async hasInterruptedBackup(udid: string): Promise<boolean> {
    checkUdid(udid);
    if (this.readOnly) await this.readOnly.refresh();
    else await this.recover(udid);
    return (await this.backend.stat(stagingDir(udid))) !== null && !this.openSessions.has(udid);
  }

  /** Deletes everything kept for `udid`: the current backup, earlier versions and any interrupted one. */
  async deleteDevice(udid: string): Promise<void> {
    checkUdid(udid);
    this.writable(udid);
    if (this.openSessions.has(udid)) throw new StoreError('EEXIST', udid, 'a backup of this device is running');
    await this.discarding.get(udid);
    // Bookkeeping first: a device folder without it is a plain backup again; the reverse would be a half-state.
    await this.backend.remove(metaDir(udid));
    await this.backend.remove(udid);
    await this.backend.flush?.();
  }

  async discardInterrupted(udid: string): Promise<void> {
    checkUdid(udid);
    this.writable(udid);
    if (this.openSessions.has(udid)) throw new StoreError('EEXIST', udid, 'a backup of this device is running');
    await this.backend.remove(stagingDir(udid));
  }

  async current(udid: string): Promise<BackupTree | null> {
    checkUdid(udid);
    await this.settle(udid);
    const st = await this.backend.stat(udid);
    return st?.kind === 'directory' ? new PlainTree(this.backend, udid) : null;
  }

  async listVersions(udid: string): Promise<BackupVersion[]> {
    if (this.readOnly) await this.readOnly.refresh();
    return (await this.versionInfos(udid)).map((v) => ({ id: v.id, date: new Date(v.date) }));
  }

  async openVersion(udid: string, id: string): Promise<BackupTree> {
    checkUdid(udid);
    await this.settle(udid);
    const infos = await this.versionInfos(udid);
    const target = infos.find((v) => v.id === id);
    if (!target) throw new StoreError('ENOENT', `${udid} version ${id}`);
    // Oldest layer first: the target's own displaced files, then each newer delta, then current.
    const layers: Layer[] = [];
    for (const info of infos.filter((v) => v.seq >= target.seq).sort((a, b) => a.seq - b.seq)) {
      const dir = joinPath(versionsDir(udid), info.id);
      const added = JSON.parse(decoder.decode(await this.backend.readAll(joinPath(dir, 'added.json')))) as string[];
      layers.push({ filesRoot: joinPath(dir, 'files'), added: new Set(added) });
    }
    return new LayeredTree(this.backend, layers, new PlainTree(this.backend, udid));
  }

  async listDevices(): Promise<string[]> {
    if (this.readOnly) await this.readOnly.refresh();
    const out: string[] = [];
    for (const entry of await this.backend.list('')) {
      if (entry.kind !== 'directory' || entry.name.startsWith('.')) continue;
      if (await this.backend.stat(joinPath(entry.name, 'Status.plist'))) out.push(entry.name);
    }
    return out.sort();
  }

  // ---- commit and recovery -------------------------------------------------------------------

  private async commitStaging(udid: string, whiteouts: string[]): Promise<void> {
    const meta = metaDir(udid);
    await this.discarding.get(udid);
    const hadCurrent = (await this.backend.stat(udid))?.kind === 'directory';
    const currentInfo = await this.readCurrentInfo(udid);
    const seq = currentInfo.seq + 1;
    let versionId: string | null = null;
    if (hadCurrent) {
      versionId = `${String(currentInfo.seq).padStart(6, '0')}-${currentInfo.date.replace(/[:.]/g, '-')}`;
      const pending = joinPath(versionsDir(udid), `.pending-${versionId}`);
      await this.backend.remove(pending);
      await this.backend.mkdirp(joinPath(pending, 'files'));
      // Paths the new backup adds: an older view must hide them.
      const added: string[] = [];
      await collectAdded(this.backend, joinPath(stagingDir(udid), 'data'), udid, '', true, added);
      await writeWhole(this.backend, joinPath(pending, 'added.json'), encoder.encode(JSON.stringify(added)));
      const info: VersionInfo = { id: versionId, seq: currentInfo.seq, date: currentInfo.date };
      await writeWhole(this.backend, joinPath(pending, 'info.json'), encoder.encode(JSON.stringify(info)));
    }
    const liveWhiteouts: string[] = [];
    // Grouped by folder, one folder at a time (kindsOf): remembering every folder's names costs too much at 1.3M files.
    const byFolder = new Map<string, string[]>();
    for (const w of whiteouts) {
      const group = byFolder.get(parentPath(w));
      if (group) group.push(w);
      else byFolder.set(parentPath(w), [w]);
    }
    for (const [folder, group] of byFolder) {
      const there = await kindsOf(this.backend, joinPath(udid, folder), group.map(baseName));
      for (const w of group) if (there.has(baseName(w))) liveWhiteouts.push(w);
    }
    const plan: CommitPlan = { versionId, whiteouts: liveWhiteouts, seq, date: new Date().toISOString() };
    // The switch: once commit.json exists the staged backup is the current one; recover() finishes the job.
    await writeWhole(this.backend, joinPath(meta, 'commit.json.tmp'), encoder.encode(JSON.stringify(plan)));
    await this.backend.rename(joinPath(meta, 'commit.json.tmp'), joinPath(meta, 'commit.json'));
    await this.rollForward(udid, plan);
  }

  /** Finishes a commit interrupted after its switch, or cleans up one interrupted before it. */
  private async recover(udid: string): Promise<void> {
    const meta = metaDir(udid);
    const commitPath = joinPath(meta, 'commit.json');
    if (await this.backend.stat(commitPath)) {
      const plan = parseCommitPlan(await this.backend.readAll(commitPath), commitPath);
      await this.rollForward(udid, plan);
      return;
    }
    await this.backend.remove(joinPath(meta, 'commit.json.tmp'));
    if (await this.backend.stat(versionsDir(udid))) {
      for (const e of await this.backend.list(versionsDir(udid))) {
        if (e.name.startsWith('.pending-')) await this.backend.remove(joinPath(versionsDir(udid), e.name));
      }
    }
  }

  private async rollForward(udid: string, plan: CommitPlan): Promise<void> {
    const meta = metaDir(udid);
    const data = joinPath(stagingDir(udid), 'data');
    let versionFiles: string | null = null;
    if (plan.versionId) {
      const pendingDir = joinPath(versionsDir(udid), `.pending-${plan.versionId}`);
      const finalDir = joinPath(versionsDir(udid), plan.versionId);
      // An earlier roll-forward may have stopped right after publishing the version.
      const published = !(await this.backend.stat(pendingDir)) && (await this.backend.stat(finalDir)) !== null;
      versionFiles = joinPath(published ? finalDir : pendingDir, 'files');
    }
    const versionDirs = new Set<string>();
    const displace = async (rel: string): Promise<void> => {
      if (!versionFiles) {
        await this.backend.remove(joinPath(udid, rel));
        return;
      }
      await moveMerging(this.backend, joinPath(udid, rel), joinPath(versionFiles, rel), versionDirs);
    };
    const displacedMarker = joinPath(meta, 'commit.displaced');
    if (!(await this.backend.stat(displacedMarker))) {
      // Phase 1: move deleted or wholesale-replaced current entries aside (merging makes it repeatable).
      for (const w of plan.whiteouts) if (await this.backend.stat(joinPath(udid, w))) await displace(w);
      await writeWhole(this.backend, displacedMarker, new Uint8Array(0));
    }
    // Phase 2: staged entries into place. A staged entry still present has not moved yet, so whatever
    // sits at its target is the old content and goes to the version first. One look per folder
    // (kindsOf: its staged names, or a listing) says what sits there: only this loop changes those folders while it runs.
    const placeFolder = async (rel: string): Promise<void> => {
      const staged = await this.backend.list(joinPath(data, rel));
      const there = await kindsOf(this.backend, joinPath(udid, rel), staged.map((e) => e.name));
      const files: string[] = [];
      for (const e of staged) {
        const child = joinPath(rel, e.name);
        if (e.kind === 'file') {
          files.push(e.name);
          continue;
        }
        const existing = there.get(e.name);
        if (existing === 'file') await displace(child);
        if (existing !== 'directory') await this.backend.mkdirp(joinPath(udid, child));
        await placeFolder(child);
      }
      // Files of one folder are independent: their moves overlap (each is a round trip in OPFS).
      await forEachConcurrently(files, MOVE_CONCURRENCY, async (name) => {
        const child = joinPath(rel, name);
        if (there.get(name)) await displace(child);
        await this.backend.rename(joinPath(data, child), joinPath(udid, child));
      });
    };
    if (await this.backend.stat(data)) {
      // The device's first backup here: the staged tree is the whole backup and moves in one rename.
      if (!(await this.backend.stat(udid))) await this.backend.rename(data, udid);
      else await placeFolder('');
    }
    await this.backend.mkdirp(udid);
    if (plan.versionId) {
      const pending = joinPath(versionsDir(udid), `.pending-${plan.versionId}`);
      if (await this.backend.stat(pending)) await this.backend.rename(pending, joinPath(versionsDir(udid), plan.versionId));
    }
    const info: CurrentInfo = { seq: plan.seq, date: plan.date };
    await writeWhole(this.backend, joinPath(meta, 'current.json'), encoder.encode(JSON.stringify(info)));
    await this.backend.remove(stagingDir(udid));
    await this.backend.remove(displacedMarker);
    await this.backend.remove(joinPath(meta, 'commit.json'));
    await this.prune(udid);
    await this.backend.flush?.();
  }

  /**
   * Marks the versions past keepVersions discarded; the next session deletes them while the device
   * prepares its backup. Deleting tens of thousands of files at the end of a commit kept the person
   * (and the device) waiting seconds for a folder nobody will open again.
   */
  private async prune(udid: string): Promise<void> {
    const infos = await this.versionInfos(udid);
    for (const old of infos.slice(this.keepVersions)) {
      await writeWhole(this.backend, joinPath(versionsDir(udid), old.id, DISCARDED_MARKER), new Uint8Array(0));
    }
  }

  private startDeletingDiscarded(udid: string): void {
    const previous = this.discarding.get(udid) ?? Promise.resolve();
    // What a failure leaves stays marked and is deleted by a later session: nothing the person keeps
    // is at stake, but the space is, so the commit reports it (see StagedSession.warnings).
    const run = previous
      .then(() => this.deleteDiscarded(udid))
      .then(
        () => void this.discardFailures.delete(udid),
        (e: unknown) => void this.discardFailures.set(udid, e instanceof Error ? e.message : String(e)),
      );
    // Kept once settled: awaiting it then costs nothing.
    this.discarding.set(udid, run);
  }

  private async isDiscarded(versionDir: string): Promise<boolean> {
    return (await this.backend.stat(joinPath(versionDir, DISCARDED_MARKER))) !== null;
  }

  private async deleteDiscarded(udid: string): Promise<void> {
    const dir = versionsDir(udid);
    if (!(await this.backend.stat(dir))) return;
    for (const e of await this.backend.list(dir)) {
      if (e.kind !== 'directory' || e.name.startsWith('.')) continue;
      const version = joinPath(dir, e.name);
      if (!(await this.isDiscarded(version))) continue;
      for (const inside of await this.backend.list(version)) {
        if (inside.name !== DISCARDED_MARKER) await this.backend.remove(joinPath(version, inside.name));
      }
      await this.backend.remove(version);
    }
  }

  private async readCurrentInfo(udid: string): Promise<CurrentInfo> {
    const path = joinPath(metaDir(udid), 'current.json');
    if (await this.backend.stat(path)) return JSON.parse(decoder.decode(await this.backend.readAll(path))) as CurrentInfo;
    // A folder made by another tool: date it by its Status.plist.
    const status = await this.backend.stat(joinPath(udid, 'Status.plist'));
    return { seq: 0, date: (status?.mtime ?? new Date()).toISOString() };
  }

  /** Newest first. */
  private async versionInfos(udid: string): Promise<VersionInfo[]> {
    const dir = versionsDir(udid);
    if (!(await this.backend.stat(dir))) return [];
    const out: VersionInfo[] = [];
    for (const e of await this.backend.list(dir)) {
      if (e.kind !== 'directory' || e.name.startsWith('.')) continue;
      if (await this.isDiscarded(joinPath(dir, e.name))) continue;
      out.push(JSON.parse(decoder.decode(await this.backend.readAll(joinPath(dir, e.name, 'info.json')))) as VersionInfo);
    }
    return out.sort((a, b) => b.seq - a.seq);
  }
}

function checkUdid(udid: string): void {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(udid)) throw new StoreError('EINVAL', udid, 'not a device identifier');
}

const metaDir = (udid: string): string => joinPath(META_DIR, udid);
const stagingDir = (udid: string): string => joinPath(META_DIR, udid, 'staging');
const versionsDir = (udid: string): string => joinPath(META_DIR, udid, 'versions');

/**
 * Paths under the staged `rel` that the current backup lacks (an older view must hide them), found
 * one current folder at a time (kindsOf) rather than with an index of all of them.
 */
async function collectAdded(backend: StorageBackend, stagedRoot: string, currentRoot: string, rel: string, currentIsFolder: boolean, out: string[]): Promise<void> {
  const staged = await backend.list(joinPath(stagedRoot, rel));
  const there = currentIsFolder ? await kindsOf(backend, joinPath(currentRoot, rel), staged.map((e) => e.name)) : new Map<string, EntryKind>();
  for (const e of staged) {
    const child = joinPath(rel, e.name);
    const existing = there.get(e.name);
    if (!existing) out.push(child);
    if (e.kind === 'directory') await collectAdded(backend, stagedRoot, currentRoot, child, existing === 'directory', out);
  }
}

/**
 * Up to this many names are looked up one by one (entryKind) instead of listing their folder: an
 * incremental backup of a 1.3M-file phone changes ≈40 files in each of 256 folders of ≈5,000, and
 * listing them all, three times per commit, was most of its commit.
 */
const LOOKUP_NAMES = 256;
/** Lookups in flight at once: in a browser each is a round trip to its storage process. */
const LOOKUP_CONCURRENCY = 16;

/** The kinds of `names` in `dir` (those that exist), as listKinds would give them. */
async function kindsOf(backend: StorageBackend, dir: string, names: readonly string[]): Promise<Map<string, EntryKind>> {
  const entryKind = backend.entryKind?.bind(backend);
  if (!entryKind || names.length > LOOKUP_NAMES) return listKinds(backend, dir);
  const kinds = new Map<string, EntryKind>();
  await forEachConcurrently(names, LOOKUP_CONCURRENCY, async (name) => {
    const kind = await entryKind(joinPath(dir, name));
    if (kind) kinds.set(name, kind);
  });
  return kinds;
}

/** One folder's names and kinds; empty when it does not exist. */
async function listKinds(backend: StorageBackend, dir: string): Promise<Map<string, EntryKind>> {
  try {
    return new Map((await backend.list(dir)).map((e) => [e.name, e.kind]));
  } catch (e) {
    if (e instanceof StoreError && (e.errno === 'ENOENT' || e.errno === 'ENOTDIR')) return new Map();
    throw e;
  }
}

/**
 * Moves `from` to `to`; when `to` is a directory already (a repeated attempt), merges child by child.
 * `madeDirs` remembers parents already created during this roll-forward.
 */
async function moveMerging(backend: StorageBackend, from: string, to: string, madeDirs = new Set<string>()): Promise<void> {
  const src = await backend.stat(from);
  if (!src) return;
  const dst = await backend.stat(to);
  if (!dst) {
    const parent = parentPath(to);
    if (!madeDirs.has(parent)) {
      await backend.mkdirp(parent);
      madeDirs.add(parent);
    }
    await backend.rename(from, to);
    return;
  }
  if (src.kind === 'directory' && dst.kind === 'directory') {
    for (const e of await backend.list(from)) await moveMerging(backend, joinPath(from, e.name), joinPath(to, e.name), madeDirs);
    await backend.remove(from);
    return;
  }
  // The older copy is already saved; what remains here is a duplicate.
  await backend.remove(from);
}

// ---- read views ------------------------------------------------------------------------------

class PlainTree implements BackupTree {
  constructor(
    private readonly backend: StorageBackend,
    private readonly root: string,
  ) {}

  stat(path: string): Promise<EntryStat | null> {
    return this.backend.stat(joinPath(this.root, normalizePath(path)));
  }

  async list(path: string): Promise<(DirectoryEntry & EntryStat)[]> {
    const dir = joinPath(this.root, normalizePath(path));
    const out: (DirectoryEntry & EntryStat)[] = [];
    for (const e of await this.backend.list(dir)) {
      const st = await this.backend.stat(joinPath(dir, e.name));
      if (st) out.push({ name: e.name, ...st });
    }
    return out;
  }

  read(path: string, chunkSize = READ_CHUNK, scratch?: Uint8Array): AsyncIterable<Uint8Array> {
    return this.backend.read(joinPath(this.root, normalizePath(path)), chunkSize, scratch);
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.backend.readAll(joinPath(this.root, normalizePath(path)));
  }

  readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    return readRangeOf(this.backend, joinPath(this.root, normalizePath(path)), start, end);
  }

  async fileBlob(path: string): Promise<Blob | null> {
    return (await this.backend.fileBlob?.(joinPath(this.root, normalizePath(path)))) ?? null;
  }

  async fileRead(path: string): Promise<FileRead | null> {
    return (await this.backend.fileRead?.(joinPath(this.root, normalizePath(path)))) ?? null;
  }
}

interface Layer {
  filesRoot: string;
  added: Set<string>;
}

function hiddenBy(set: Set<string>, path: string): boolean {
  if (set.size === 0) return false;
  for (const p of selfAndAncestors(path)) if (set.has(p)) return true;
  return false;
}

/** An earlier backup: its displaced files over each newer delta over the current backup. */
class LayeredTree implements BackupTree {
  constructor(
    private readonly backend: StorageBackend,
    private readonly layers: Layer[],
    private readonly base: BackupTree,
  ) {}

  private async resolve(path: string, from = 0): Promise<{ source: string | null; stat: EntryStat } | null> {
    for (let i = from; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      const st = await this.backend.stat(joinPath(layer.filesRoot, path));
      if (st) return { source: joinPath(layer.filesRoot, path), stat: st };
      if (hiddenBy(layer.added, path)) return null;
    }
    const st = await this.base.stat(path);
    return st ? { source: null, stat: st } : null;
  }

  async stat(path: string): Promise<EntryStat | null> {
    return (await this.resolve(normalizePath(path)))?.stat ?? null;
  }

  async list(path: string): Promise<(DirectoryEntry & EntryStat)[]> {
    const dir = normalizePath(path);
    const self = await this.resolve(dir);
    if (!self) throw new StoreError('ENOENT', dir);
    if (self.stat.kind !== 'directory') throw new StoreError('ENOTDIR', dir);
    const names = new Set<string>();
    for (const layer of this.layers) {
      const d = joinPath(layer.filesRoot, dir);
      if ((await this.backend.stat(d))?.kind === 'directory') for (const e of await this.backend.list(d)) names.add(e.name);
    }
    if ((await this.base.stat(dir))?.kind === 'directory') for (const e of await this.base.list(dir)) names.add(e.name);
    const out: (DirectoryEntry & EntryStat)[] = [];
    for (const name of [...names].sort()) {
      const r = await this.resolve(joinPath(dir, name));
      if (r) out.push({ name, ...r.stat });
    }
    return out;
  }

  async *read(path: string, chunkSize = READ_CHUNK, scratch?: Uint8Array): AsyncIterable<Uint8Array> {
    const p = normalizePath(path);
    const r = await this.resolve(p);
    if (!r) throw new StoreError('ENOENT', p);
    yield* r.source === null ? this.base.read(p, chunkSize, scratch) : this.backend.read(r.source, chunkSize, scratch);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const p = normalizePath(path);
    const r = await this.resolve(p);
    if (!r) throw new StoreError('ENOENT', p);
    return r.source === null ? this.base.readFile(p) : this.backend.readAll(r.source);
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    const p = normalizePath(path);
    const r = await this.resolve(p);
    if (!r) throw new StoreError('ENOENT', p);
    return r.source === null ? this.base.readRange(p, start, end) : readRangeOf(this.backend, r.source, start, end);
  }

  async fileBlob(path: string): Promise<Blob | null> {
    const p = normalizePath(path);
    const r = await this.resolve(p);
    if (!r) throw new StoreError('ENOENT', p);
    return r.source === null ? ((await this.base.fileBlob?.(p)) ?? null) : ((await this.backend.fileBlob?.(r.source)) ?? null);
  }

  async fileRead(path: string): Promise<FileRead | null> {
    const p = normalizePath(path);
    const r = await this.resolve(p);
    if (!r) throw new StoreError('ENOENT', p);
    return r.source === null ? ((await this.base.fileRead?.(p)) ?? null) : ((await this.backend.fileRead?.(r.source)) ?? null);
  }
}

// ---- the session: a staging overlay on the current backup ------------------------------------

/**
 * How a session writes new files. In place (straight to staging/data/P) when the backend shows a file
 * only once it is whole, or when `unfinishedLog` names each file before it is opened, so a resume can
 * delete what was written after the last sync; otherwise under a temporary name, renamed when whole.
 */
interface WriteRoute {
  writesInPlace: boolean;
  unfinishedLog: AppendLog | null;
}

/**
 * A resume's first step: deletes the files written in place after the last sync. Any of them may be
 * cut short, and the device never heard that any was stored, so it sends them again.
 */
async function dropUnfinished(backend: StorageBackend, log: string, data: string): Promise<void> {
  // A torn last line is an append cut short: its file was never opened.
  for (const p of journalPaths(await readPathLines(backend, log))) if (p !== '') await backend.remove(joinPath(data, p));
  await backend.remove(log);
}

/**
 * The paths among a journal's values, normalized. The journals are bytes in the store's folder, which a
 * disk or another program may have damaged: a line that is not a path inside the backup ("..", "/", a
 * number) is dropped, as a torn one is. Losing a whiteout that way keeps a file the device had deleted,
 * which its Manifest.db no longer names; keeping it would fail the commit, or delete what it should not.
 */
function journalPaths(values: unknown[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    if (typeof value !== 'string') continue;
    try {
      out.push(normalizePath(value));
    } catch {
      // not a path inside the backup
    }
  }
  return out;
}

/** One name in a folder: a version's id becomes one. */
function isFolderName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

/**
 * commit.json as written by commitStaging, checked before a roll-forward acts on it: its paths are used
 * to move and delete files. Damaged, it is a typed error that names it (the interrupted commit cannot be
 * finished without it), never a move outside the device's folder.
 */
function parseCommitPlan(bytes: Uint8Array, path: string): CommitPlan {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    value = undefined;
  }
  const plan = value as Partial<CommitPlan> | undefined;
  const versionOk = plan?.versionId === null || (typeof plan?.versionId === 'string' && isFolderName(plan.versionId));
  if (!plan || typeof plan !== 'object' || !versionOk || !Array.isArray(plan.whiteouts) || typeof plan.seq !== 'number' || typeof plan.date !== 'string') {
    throw new StoreError('EIO', path, 'the record of a backup that was being saved is damaged, so saving it cannot be finished');
  }
  const whiteouts = journalPaths(plan.whiteouts);
  if (whiteouts.length !== plan.whiteouts.length) {
    throw new StoreError('EIO', path, 'the record of a backup that was being saved names a path outside the backup');
  }
  return { versionId: plan.versionId ?? null, whiteouts, seq: plan.seq, date: plan.date };
}

/** A path's line in a staging journal (whiteouts, unfinished writes): its JSON, then a newline. */
function pathLine(p: string): string {
  return `${JSON.stringify(p)}\n`;
}

/** The values of a journal's lines (nothing if it is missing); a line that is not JSON is skipped. */
async function readPathLines(backend: StorageBackend, path: string): Promise<unknown[]> {
  if (!(await backend.stat(path))) return [];
  const out: unknown[] = [];
  for (const line of decoder.decode(await backend.readAll(path)).split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // Torn: see the callers.
    }
  }
  return out;
}

interface SessionHooks {
  /** Publishes the staged backup; resolves to the warnings the person should hear. */
  commit(session: StagedSession): Promise<string[]>;
  close(): void;
}

/**
 * The device's view while backing up: staged entries (written this run) win; a whiteout hides a
 * current entry and everything under it; anything else falls through to the current backup.
 * Invariant: the staged entry for view path P lives at staging/data/P. Which entries exist is
 * answered from memory (tree-index.ts): the backend is asked only for sizes, dates and data.
 */
class StagedSession implements BackupSession {
  private readonly pendingWhiteouts: string[] = [];
  /** Files being written in place now (view paths): named again in the log at each sync. */
  private readonly writingInPlace = new Set<string>();
  private tmpCounter = 0;
  private lineBuffer = new Uint8Array(256);
  private finished = false;
  private committedWarnings: readonly string[] = [];
  private readonly currentIndex: ReadOnlyTreeIndex;
  /** staging/data, where view path P is staged at `${stagedData}/P`. */
  private readonly stagedData: string;

  constructor(
    private readonly backend: StorageBackend,
    readonly udid: string,
    private readonly whiteouts: Set<string>,
    private readonly stagedIndex: OwnedTreeIndex,
    private readonly route: WriteRoute,
    private readonly hooks: SessionHooks,
  ) {
    this.currentIndex = new ReadOnlyTreeIndex(backend, udid);
    this.stagedData = joinPath(stagingDir(udid), 'data');
  }

  whiteoutList(): string[] {
    return [...this.whiteouts];
  }

  private staged(p: string): string {
    return p === '' ? this.stagedData : `${this.stagedData}/${p}`;
  }

  private cur(p: string): string {
    return joinPath(this.udid, p);
  }

  private async visibleCurrent(p: string): Promise<EntryKind | null> {
    if (hiddenBy(this.whiteouts, p)) return null;
    return this.currentIndex.kind(p);
  }

  /** visibleCurrent without waiting, or undefined when only visibleCurrent can tell. */
  private visibleCurrentNow(p: string): EntryKind | null | undefined {
    return hiddenBy(this.whiteouts, p) ? null : this.currentIndex.kindNow(p);
  }

  private async viewKind(p: string): Promise<EntryKind | null> {
    return this.stagedIndex.kind(p) ?? (await this.visibleCurrent(p));
  }

  private addWhiteout(p: string): void {
    if (this.whiteouts.has(p)) return;
    this.whiteouts.add(p);
    this.pendingWhiteouts.push(p);
  }

  private live(): void {
    if (this.finished) throw new StoreError('EIO', this.udid, 'this backup session has ended');
  }

  async stat(path: string): Promise<EntryStat | null> {
    const p = normalizePath(path);
    if (this.stagedIndex.kind(p)) return this.backend.stat(this.staged(p));
    return (await this.visibleCurrent(p)) ? this.backend.stat(this.cur(p)) : null;
  }

  async list(path: string): Promise<(DirectoryEntry & EntryStat)[]> {
    const p = normalizePath(path);
    const staged = this.stagedIndex.kind(p);
    const current = staged === 'file' ? null : await this.visibleCurrent(p);
    if (!staged && !current) throw new StoreError('ENOENT', p);
    if ((staged ?? current) !== 'directory') throw new StoreError('ENOTDIR', p);
    const out = new Map<string, DirectoryEntry & EntryStat>();
    if (staged) {
      for (const e of this.stagedIndex.children(p)) {
        const st = await this.backend.stat(joinPath(this.staged(p), e.name));
        if (st) out.set(e.name, { name: e.name, ...st });
      }
    }
    if (current === 'directory') {
      for (const e of (await this.currentIndex.children(p)) ?? []) {
        const child = joinPath(p, e.name);
        if (out.has(e.name) || hiddenBy(this.whiteouts, child)) continue;
        const st = await this.backend.stat(this.cur(child));
        if (st) out.set(e.name, { name: e.name, ...st });
      }
    }
    return [...out.values()];
  }

  async *read(path: string, chunkSize = READ_CHUNK, scratch?: Uint8Array): AsyncIterable<Uint8Array> {
    const p = normalizePath(path);
    const staged = this.stagedIndex.kind(p);
    const kind = staged ?? (await this.visibleCurrent(p));
    if (!kind) throw new StoreError('ENOENT', p);
    if (kind === 'directory') throw new StoreError('EISDIR', p);
    yield* this.backend.read(staged ? this.staged(p) : this.cur(p), chunkSize, scratch);
  }

  async readRange(path: string, start: number, end: number): Promise<Uint8Array> {
    const p = normalizePath(path);
    const staged = this.stagedIndex.kind(p);
    const kind = staged ?? (await this.visibleCurrent(p));
    if (!kind) throw new StoreError('ENOENT', p);
    if (kind === 'directory') throw new StoreError('EISDIR', p);
    return readRangeOf(this.backend, staged ? this.staged(p) : this.cur(p), start, end);
  }

  readFile(path: string): Promise<Uint8Array> {
    return collectBytes(this.read(path));
  }

  async createFile(path: string): Promise<FileSink> {
    this.live();
    const p = normalizePath(path);
    if (p === '') throw new StoreError('EISDIR', p);
    await this.mkdirp(parentPath(p));
    // Replacing a staged entry goes through a temporary name: an unplug mid-write keeps the old one.
    if (this.route.writesInPlace && !this.stagedIndex.kind(p) && !this.writingInPlace.has(p)) return this.createInPlace(p);
    const tmp = joinPath(stagingDir(this.udid), 'tmp', String(++this.tmpCounter));
    const sink = await this.backend.createFile(tmp);
    return {
      write: (chunk) => sink.write(chunk),
      chunksReusable: sink.chunksReusable,
      abort: () => sink.abort(),
      close: async () => {
        await sink.close();
        await this.place(p, tmp);
      },
    };
  }

  /**
   * A new file written at its staged place: one rename per file fewer than a temporary name (in a CPU
   * profile of a Node backup the two renames per file were 11% of its time). Named in the unfinished
   * log first, if there is one.
   */
  private async createInPlace(p: string): Promise<FileSink> {
    const target = this.nameInPlace(p);
    let sink: FileSink;
    try {
      sink = await this.backend.createFile(target);
    } catch (e) {
      this.writingInPlace.delete(p);
      throw e;
    }
    return {
      write: (chunk) => sink.write(chunk),
      chunksReusable: sink.chunksReusable,
      abort: async () => {
        this.writingInPlace.delete(p);
        await sink.abort();
      },
      close: async () => {
        try {
          await sink.close();
        } catch (e) {
          await this.backend.remove(target).catch(() => undefined);
          throw e;
        } finally {
          this.writingInPlace.delete(p);
        }
        if (this.placedInPlace(p, await this.visibleCurrent(p))) this.addWhiteout(p);
      },
    };
  }

  /**
   * createFile without a promise, where nothing needs one: the backend writes synchronously, the file
   * goes to its place in a folder already staged where nothing is staged yet, and whether the current
   * backup has a folder there is known. A backup's million small files take this path on Node. null
   * when the file needs createFile.
   */
  createFileNow(path: string): FileSinkNow | null {
    if (!this.backend.createFileNow || !this.route.writesInPlace) return null;
    this.live();
    const p = normalizePath(path);
    if (p === '' || this.stagedIndex.kind(parentPath(p)) !== 'directory' || this.stagedIndex.kind(p) || this.writingInPlace.has(p)) return null;
    if (this.visibleCurrentNow(p) === undefined) return null;
    const target = this.nameInPlace(p);
    let sink: FileSinkNow;
    try {
      sink = this.backend.createFileNow(target);
    } catch (e) {
      this.writingInPlace.delete(p);
      throw e;
    }
    return {
      writeNow: (chunk) => sink.writeNow(chunk),
      abortNow: () => {
        this.writingInPlace.delete(p);
        sink.abortNow();
      },
      closeNow: () => {
        try {
          sink.closeNow();
        } catch (e) {
          try {
            sink.abortNow();
          } catch {
            // The close's failure is the one to report.
          }
          throw e;
        } finally {
          this.writingInPlace.delete(p);
        }
        // Known when the file was opened (createFileNow checked), and the current backup does not change.
        if (this.placedInPlace(p, this.visibleCurrentNow(p) ?? null)) this.addWhiteout(p);
      },
    };
  }

  /** Names `p` as being written, in the unfinished log too before anything exists there; returns its staged place. */
  private nameInPlace(p: string): string {
    this.writingInPlace.add(p);
    try {
      this.route.unfinishedLog?.append(this.logLine(p));
    } catch (e) {
      this.writingInPlace.delete(p);
      throw e;
    }
    return this.staged(p);
  }

  /**
   * Records the file just closed at `p`; true when it replaces a folder of the current backup, which
   * then needs hiding.
   */
  private placedInPlace(p: string, current: EntryKind | null): boolean {
    // Its folder was removed while it was written: the file went with it.
    if (!this.stagedIndex.addFileIfFolder(p)) throw new StoreError('ENOENT', p, 'its folder was removed while it was being written');
    return current === 'directory';
  }

  /** `p`'s line in the unfinished log, in a buffer reused for every line (an append writes before it returns). */
  private logLine(p: string): Uint8Array {
    const line = pathLine(p);
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (this.lineBuffer.byteLength < line.length * 3) this.lineBuffer = new Uint8Array(line.length * 3);
    return this.lineBuffer.subarray(0, encoder.encodeInto(line, this.lineBuffer).written);
  }

  /** Puts a finished staged file at view path `p`, replacing whatever the view had there. */
  private async place(p: string, stagedSource: string): Promise<void> {
    if (this.stagedIndex.kind(p)) {
      await this.backend.remove(this.staged(p));
      this.stagedIndex.delete(p);
    }
    // A staged file shadows a current file by itself; a current directory's children need hiding.
    if ((await this.visibleCurrent(p)) === 'directory') this.addWhiteout(p);
    const parent = parentPath(p);
    if (this.stagedIndex.kind(parent) !== 'directory') {
      await this.backend.mkdirp(this.staged(parent));
      this.stagedIndex.addDirectories(parent);
    }
    await this.backend.rename(stagedSource, this.staged(p));
    this.stagedIndex.addFile(p);
  }

  async writeFile(path: string, bytes: Uint8Array): Promise<void> {
    const sink = await this.createFile(path);
    try {
      await sink.write(bytes);
    } catch (e) {
      await sink.abort();
      throw e;
    }
    await sink.close();
  }

  async mkdirp(path: string): Promise<void> {
    this.live();
    const p = normalizePath(path);
    // A staged directory's ancestors are staged directories too, and staged entries win in the view.
    if (this.stagedIndex.kind(p) === 'directory') return;
    for (const prefix of selfAndAncestors(p)) {
      if (prefix === '') continue;
      if ((await this.viewKind(prefix)) === 'file') throw new StoreError(prefix === p ? 'EEXIST' : 'ENOTDIR', prefix);
    }
    await this.backend.mkdirp(this.staged(p));
    this.stagedIndex.addDirectories(p);
  }

  async move(from: string, to: string): Promise<void> {
    this.live();
    const src = normalizePath(from);
    const dst = normalizePath(to);
    if (src === dst) return;
    if (dst.startsWith(`${src}/`) || src === '') throw new StoreError('EINVAL', dst, 'cannot move a folder into itself');
    const stagedSrc = this.stagedIndex.kind(src);
    const currentSrc = await this.visibleCurrent(src);
    if (!stagedSrc && !currentSrc) throw new StoreError('ENOENT', src);
    await this.remove(dst);
    await this.mkdirp(parentPath(dst));
    // remove(dst) hid whatever the current backup has at dst.
    if (stagedSrc) {
      await this.backend.rename(this.staged(src), this.staged(dst));
      this.stagedIndex.move(src, dst);
    }
    if (currentSrc) {
      // Rare: the device moves something from the last complete backup. That backup must stay intact,
      // so the moved content is copied into staging (unless a staged file shadowed it) and the source
      // hidden, or it would show again where the staged entry left.
      if (stagedSrc !== 'file') await this.copyCurrentInto(src, dst);
      this.addWhiteout(src);
    }
  }

  /**
   * move() without a promise where none is needed: a staged file to a free place in a staged folder, on
   * a backend that renames synchronously, with the current backup's answer for the destination known.
   * The device's Snapshot/xx/id → xx/id moves, a million of them, take this path on Node. False, with
   * nothing done, when the move needs move().
   */
  moveNow(from: string, to: string): boolean {
    if (!this.backend.renameNow) return false;
    this.live();
    const src = normalizePath(from);
    const dst = normalizePath(to);
    if (src === dst || this.stagedIndex.kind(src) !== 'file' || this.stagedIndex.kind(dst) || this.stagedIndex.kind(parentPath(dst)) !== 'directory') return false;
    const current = this.visibleCurrentNow(dst);
    const currentSrc = current === undefined ? undefined : this.visibleCurrentNow(src);
    if (current === undefined || currentSrc === undefined) return false;
    this.backend.renameNow(this.staged(src), this.staged(dst));
    this.stagedIndex.move(src, dst);
    // The staged file shadows a current file at dst by itself (and the commit moves that file aside), as
    // in place(); a current folder's children need hiding. At src, whatever the staged file shadowed
    // would show again.
    if (current === 'directory') this.addWhiteout(dst);
    if (currentSrc) this.addWhiteout(src);
    return true;
  }

  private async copyCurrentInto(src: string, dst: string): Promise<void> {
    const kind = await this.visibleCurrent(src);
    if (!kind) return;
    if (kind === 'file') {
      if (this.stagedIndex.kind(dst)) return;
      await copyFile(this.backend, this.cur(src), this.staged(dst));
      this.stagedIndex.addFile(dst);
      return;
    }
    await this.backend.mkdirp(this.staged(dst));
    this.stagedIndex.addDirectories(dst);
    for (const e of (await this.currentIndex.children(src)) ?? []) {
      await this.copyCurrentInto(joinPath(src, e.name), joinPath(dst, e.name));
    }
  }

  async remove(path: string): Promise<void> {
    this.live();
    const p = normalizePath(path);
    if (this.stagedIndex.kind(p)) {
      await this.backend.remove(this.staged(p));
      this.stagedIndex.delete(p);
      if (p === '') await this.backend.mkdirp(this.staged(''));
    }
    if (await this.visibleCurrent(p)) this.addWhiteout(p);
  }

  async copy(from: string, to: string): Promise<void> {
    this.live();
    const src = normalizePath(from);
    const dst = normalizePath(to);
    if (dst === src || dst.startsWith(`${src}/`)) throw new StoreError('EINVAL', dst, 'cannot copy a folder into itself');
    if (!(await this.viewKind(src))) throw new StoreError('ENOENT', src);
    await this.remove(dst);
    await this.copyView(src, dst);
  }

  private async copyView(src: string, dst: string): Promise<void> {
    const kind = await this.viewKind(src);
    if (!kind) return;
    if (kind === 'directory') {
      await this.mkdirp(dst);
      for (const e of await this.list(src)) await this.copyView(joinPath(src, e.name), joinPath(dst, e.name));
      return;
    }
    const sink = await this.createFile(dst);
    try {
      for await (const chunk of this.read(src)) await sink.write(chunk);
    } catch (e) {
      await sink.abort();
      throw e;
    }
    await sink.close();
  }

  freeSpace(): Promise<number> {
    return this.backend.freeSpace();
  }

  async sync(): Promise<void> {
    if (this.pendingWhiteouts.length > 0) {
      const lines = this.pendingWhiteouts.map(pathLine).join('');
      await this.backend.append(joinPath(stagingDir(this.udid), 'whiteouts.jsonl'), encoder.encode(lines));
      this.pendingWhiteouts.length = 0;
    }
    await this.backend.flush?.();
    // Every file closed so far is whole and about to be acknowledged; only those still open stay named.
    this.route.unfinishedLog?.reset(encoder.encode([...this.writingInPlace].map(pathLine).join('')));
  }

  async commit(): Promise<void> {
    this.live();
    await this.sync();
    this.finished = true;
    this.route.unfinishedLog?.close();
    try {
      this.committedWarnings = await this.hooks.commit(this);
    } finally {
      this.hooks.close();
    }
  }

  warnings(): readonly string[] {
    return this.committedWarnings;
  }

  async discard(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.route.unfinishedLog?.close();
    await this.backend.remove(stagingDir(this.udid));
    this.hooks.close();
  }

  /** Ends the session but keeps staging for a later resume. */
  async suspend(): Promise<void> {
    if (this.finished) return;
    await this.sync();
    this.finished = true;
    this.route.unfinishedLog?.close();
    this.hooks.close();
  }
}

async function copyFile(backend: StorageBackend, from: string, to: string): Promise<void> {
  await backend.mkdirp(parentPath(to));
  const sink = await backend.createFile(to);
  try {
    for await (const chunk of backend.read(from, READ_CHUNK)) await sink.write(chunk);
  } catch (e) {
    await sink.abort();
    throw e;
  }
  await sink.close();
}
