import { Catalogue, DirNode, type CatalogueRecord } from './catalogue.ts';
import { decodeFrames } from './frame.ts';
import { decodeSnapshotFile } from './snapshot-decoder.ts';
import type { DirHandleLike, FileHandleLike } from '../handle-backend.ts';

/*
 * What a packed store keeps in its directory (all flat, never browsed outside the app):
 *   snapshot-<gen>  one frame: the whole catalogue when generation <gen> began (none for gen 0)
 *   journal-<gen>   frames: catalogue changes since that snapshot
 *   pack-<id>       small files' bytes, appended back to back
 *   blob-<id>       one large file's bytes
 * Ids come from one counter that only grows (recorded in the journal), so a name is never reused.
 */
export const snapshotName = (gen: number): string => `snapshot-${gen}`;
export const journalName = (gen: number): string => `journal-${gen}`;
export const packName = (id: number): string => `pack-${id}`;
export const blobName = (id: number): string => `blob-${id}`;

export function parseName(name: string): { kind: 'snapshot' | 'journal' | 'pack' | 'blob'; n: number } | null {
  const m = /^(snapshot|journal|pack|blob)-(\d+)$/.exec(name);
  return m ? { kind: m[1] as 'snapshot' | 'journal' | 'pack' | 'blob', n: Number(m[2]) } : null;
}

export interface LoadedState {
  catalogue: Catalogue;
  gen: number;
  /** Bytes of valid frames in the journal: where appends continue (a torn tail is cut here). */
  journalLength: number;
  /** Every name in the directory, as listed. */
  names: string[];
}

export async function readWhole(dir: DirHandleLike, name: string): Promise<Uint8Array | null> {
  let handle: FileHandleLike;
  try {
    handle = await dir.getFileHandle(name);
  } catch (e) {
    if ((e as { name?: string }).name === 'NotFoundError') return null;
    throw e;
  }
  // A File snapshot goes stale (NotReadableError) if the writer appends meanwhile: take a new one.
  for (let attempt = 0; ; attempt++) {
    try {
      return new Uint8Array(await (await handle.getFile()).arrayBuffer());
    } catch (e) {
      const n = (e as { name?: string }).name;
      if (n === 'NotFoundError') return null;
      if (n !== 'NotReadableError' || attempt >= 20) throw e;
    }
  }
}

/** Applies journal records; a record that no longer fits (cannot happen unless the file was edited) is skipped. */
export function replay(catalogue: Catalogue, values: unknown[]): void {
  for (const v of values) {
    try {
      catalogue.apply(v as CatalogueRecord, () => undefined);
    } catch {
      // Skipped: see above.
    }
  }
}

/** Newest generation whose snapshot is whole, plus its journal. */
export async function loadState(dir: DirHandleLike): Promise<LoadedState> {
  const names: string[] = [];
  for await (const e of dir.values()) names.push(e.name);
  const gens = new Set<number>([0]);
  for (const name of names) {
    const p = parseName(name);
    if (p && (p.kind === 'snapshot' || p.kind === 'journal')) gens.add(p.n);
  }
  for (const gen of [...gens].sort((a, b) => b - a)) {
    let catalogue: Catalogue;
    if (gen === 0) catalogue = new Catalogue();
    else {
      const bytes = names.includes(snapshotName(gen)) ? await readWhole(dir, snapshotName(gen)) : null;
      if (!bytes) continue;
      const snapshot = decodeSnapshotFile(bytes);
      if (!snapshot) continue;
      catalogue = snapshot;
    }
    const journal = names.includes(journalName(gen)) ? await readWhole(dir, journalName(gen)) : null;
    let journalLength = 0;
    if (journal) {
      const frames = decodeFrames(journal);
      replay(catalogue, frames.values);
      journalLength = frames.validLength;
    }
    return { catalogue, gen, journalLength, names };
  }
  return { catalogue: new Catalogue(), gen: 0, journalLength: 0, names };
}

/** Live bytes per pack id, and the blob ids in use. */
export function usage(root: DirNode, catalogue: Catalogue): { packs: Map<number, number>; blobs: Set<number> } {
  const packs = new Map<number, number>();
  const blobs = new Set<number>();
  for (const [, f] of catalogue.files(root)) {
    if (f.blob) blobs.add(f.store);
    else packs.set(f.store, (packs.get(f.store) ?? 0) + f.size);
  }
  return { packs, blobs };
}
