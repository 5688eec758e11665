import { DISCARDED_MARKER, META_DIR } from '../versioned-backup-store.ts';
import type { DirHandleLike } from '../handle-backend.ts';
import { DirNode, type Catalogue } from './catalogue.ts';
import { parseName } from './layout.ts';

/** What one device's backups take in the store, from the catalogue (bytes of file content). */
export interface DeviceFootprint {
  udid: string;
  /** The latest complete backup. */
  current: number;
  /** Each earlier backup's own bytes (what the next backup replaced or removed), newest first. */
  versions: { id: string; bytes: number }[];
  /** Earlier backups past the number kept: deleted while the device prepares its next backup. */
  discarded: number;
  /** A backup that did not finish (kept to resume), 0 when none. */
  staging: number;
}

/** What Lifeboat holds in its packed store, for the Library beside the browser's estimate. */
export interface StoreFootprint {
  devices: DeviceFootprint[];
  /** Bytes the catalogue references (every backup, version and staging). */
  live: number;
  /** Bytes of the store's files (packs, blobs, journal, snapshot): live + space not yet reclaimed + bookkeeping. */
  onDisk: number;
}

function bytesUnder(node: DirNode | undefined, catalogue: Catalogue): number {
  if (!node) return 0;
  let total = 0;
  for (const [, f] of catalogue.files(node)) total += f.size;
  return total;
}

function child(node: DirNode | undefined, name: string): DirNode | undefined {
  const c = node?.children.get(name);
  return c instanceof DirNode ? c : undefined;
}

/** Per device: current backup, earlier versions and unfinished staging, summed from the catalogue. */
export function catalogueFootprint(catalogue: Catalogue): Omit<StoreFootprint, 'onDisk'> {
  const root = catalogue.root;
  const meta = child(root, META_DIR);
  const udids = new Set<string>();
  for (const [name, node] of root.children) if (name !== META_DIR && node instanceof DirNode) udids.add(name);
  for (const [name, node] of meta?.children ?? []) if (node instanceof DirNode) udids.add(name);
  const devices: DeviceFootprint[] = [];
  for (const udid of [...udids].sort()) {
    const own = child(meta, udid);
    const folders = [...(child(own, 'versions')?.children ?? [])].filter((e): e is [string, DirNode] => e[1] instanceof DirNode);
    const isDiscarded = (node: DirNode): boolean => node.children.has(DISCARDED_MARKER);
    const versions = folders
      .filter(([, node]) => !isDiscarded(node))
      .map(([id, node]) => ({ id, bytes: bytesUnder(node, catalogue) }))
      .sort((a, b) => (a.id < b.id ? 1 : -1));
    const discarded = folders.filter(([, node]) => isDiscarded(node)).reduce((sum, [, node]) => sum + bytesUnder(node, catalogue), 0);
    devices.push({ udid, current: bytesUnder(child(root, udid), catalogue), versions, discarded, staging: bytesUnder(child(own, 'staging'), catalogue) });
  }
  return { devices, live: bytesUnder(root, catalogue) };
}

/** Bytes of every file the store keeps in `dir` (one listing, one getFile per file: packs are few). */
export async function storeFileBytes(dir: DirHandleLike): Promise<number> {
  let total = 0;
  for await (const entry of dir.values()) {
    if (entry.kind !== 'file' || !parseName(entry.name)) continue;
    try {
      total += (await entry.getFile()).size;
    } catch {
      // Deleted by the writer since the listing.
    }
  }
  return total;
}
