import { LifeboatError } from '../../src/core/errors.ts';
import { HandleBackend } from '../../src/stores/handle-backend.ts';
import { writeWhole, type StorageBackend } from '../../src/stores/storage-backend.ts';
import { VersionedBackupStore } from '../../src/stores/versioned-backup-store.ts';
import { MemoryDirectoryHandle } from '../../tests/stores/memory-directory-handle.ts';
import { type FuzzTarget, joinParts, messageShape, splitParts } from '../target.ts';

// The store's own journals are bytes in a folder a disk or another program may have damaged: the
// whiteout journal and the unfinished-writes log a resumed backup reads, and commit.json, the record
// an interrupted commit is finished from. Each names paths the store then deletes or moves.

const UDID = '00008120-001A2B3C4D5E802E';
const STAGING = `.lifeboat/${UDID}/staging`;
const enc = new TextEncoder();
const dec = new TextDecoder();
const PRECIOUS = 'not the store’s';

/** Three journals in one input: whiteouts.jsonl, unfinished.jsonl, commit.json (an empty part: no such file). */
function journals(whiteouts: string, unfinished: string, commit: string): Uint8Array {
  return joinParts(enc.encode(whiteouts), joinParts(enc.encode(unfinished), enc.encode(commit)));
}

async function readText(backend: StorageBackend, path: string): Promise<string | null> {
  return (await backend.stat(path)) ? dec.decode(await backend.readAll(path)) : null;
}

export const storeJournals: FuzzTarget = {
  name: 'store-journals',
  async seeds() {
    const plan = JSON.stringify({ versionId: '000001-2026-12-05T22-00-00-000Z', whiteouts: ['b'], seq: 2, date: '2026-12-05T22:00:00.000Z' });
    return [
      journals('"a/keep"\n', '"c/new"\n', ''),
      journals('"b"\n"a/keep"\n', '', plan),
      journals('', '"c/new"\n"c/other"\n', ''),
      journals('"../outside/precious"\n42\n"', '"../../outside/precious"\n', JSON.stringify({ versionId: null, whiteouts: [''], seq: 1, date: '' })),
    ];
  },
  maxInput: 4 * 1024,
  // Each input sets up a store with two backups first (≈2 ms).
  quickExecutions: 4_000,
  async run(input) {
    const [whiteouts, rest] = splitParts(input);
    const [unfinished, commit] = splitParts(rest);
    const backend = new HandleBackend(new MemoryDirectoryHandle(), { freeSpace: async () => 1e12 });
    const store = new VersionedBackupStore('folder', backend);
    try {
      // A current backup, a file outside the store's folders, and an interrupted backup to resume.
      const first = await store.openSession(UDID);
      await first.writeFile('a/keep', enc.encode('kept'));
      await first.writeFile('b/x', enc.encode('x'));
      await first.commit();
      await backend.mkdirp('outside');
      await writeWhole(backend, 'outside/precious', enc.encode(PRECIOUS));
      const second = await store.openSession(UDID);
      await second.writeFile('c/new', enc.encode('new'));
      await second.sync();
      await second.suspend();
      await writeWhole(backend, `${STAGING}/whiteouts.jsonl`, whiteouts);
      await writeWhole(backend, `${STAGING}/unfinished.jsonl`, unfinished);
      if (commit.length > 0) await writeWhole(backend, `.lifeboat/${UDID}/commit.json`, commit);
    } catch (error) {
      // Not the input's doing: a typed error here must not pass for the store refusing it.
      throw new Error(`the harness could not set the store up: ${(error as Error).message}`);
    }
    let outcome: string;
    try {
      const resumed = await store.openSession(UDID, { resume: true });
      await resumed.commit();
      const current = await store.current(UDID);
      outcome = `committed${current && (await current.stat('c/new')) ? ' with c/new' : ''}`;
    } catch (error) {
      if (!(error instanceof LifeboatError)) throw error;
      outcome = `refused: ${messageShape(error)}`;
    }
    // Whatever the journals said, nothing outside the device's folders was touched.
    if ((await readText(backend, 'outside/precious')) !== PRECIOUS) throw new Error(`a journal reached outside the store (${outcome})`);
    return outcome;
  },
};
