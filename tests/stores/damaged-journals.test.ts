// The store's journals (whiteouts.jsonl, unfinished.jsonl, commit.json) are bytes a disk or another
// program may have damaged. A line that is not a path inside the backup is dropped; a damaged
// commit.json is a typed error naming it. Neither may crash with a TypeError, leave the device's
// backups stuck behind an untyped failure, or touch anything outside the store's folders.
// (`npm run fuzz -- --only=store-journals` mutates all three.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandleBackend } from '../../src/stores/handle-backend.ts';
import { StoreError } from '../../src/stores/errors.ts';
import { writeWhole } from '../../src/stores/storage-backend.ts';
import { VersionedBackupStore } from '../../src/stores/versioned-backup-store.ts';
import { MemoryDirectoryHandle } from './memory-directory-handle.ts';

const UDID = '00008030-001A2B3C4D5E802E';
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A store with a current backup (a/keep, b/x), a file outside its folders, and a suspended backup that added c/new. */
async function interrupted() {
  const backend = new HandleBackend(new MemoryDirectoryHandle(), { freeSpace: async () => 1e12 });
  const store = new VersionedBackupStore('folder', backend);
  const first = await store.openSession(UDID);
  await first.writeFile('a/keep', enc.encode('kept'));
  await first.writeFile('b/x', enc.encode('x'));
  await first.commit();
  await backend.mkdirp('outside');
  await writeWhole(backend, 'outside/precious', enc.encode('mine'));
  const second = await store.openSession(UDID);
  await second.writeFile('c/new', enc.encode('new'));
  await second.sync();
  await second.suspend();
  const outsideIntact = async () => dec.decode(await backend.readAll('outside/precious')) === 'mine';
  return { backend, store, outsideIntact };
}

test('whiteout lines that are not paths inside the backup are dropped: the resumed backup commits whole', async () => {
  const { backend, store, outsideIntact } = await interrupted();
  const lines = ['42', 'null', '{"x":1}', '"../../outside/precious"', '"a/../.."', '"b//x"', '"a/keep"', '"torn'];
  await writeWhole(backend, `.lifeboat/${UDID}/staging/whiteouts.jsonl`, enc.encode(lines.join('\n')));
  const resumed = await store.openSession(UDID, { resume: true });
  await resumed.commit();
  const current = (await store.current(UDID))!;
  assert.equal(dec.decode(await current.readFile('c/new')), 'new');
  assert.equal(dec.decode(await current.readFile('b/x')), 'x');
  assert.equal(await current.stat('a/keep'), null, 'the one good whiteout still deletes');
  assert.ok(await outsideIntact());
});

for (const [label, plan] of [
  ['not JSON', '{"versionId":'],
  ['no whiteouts', '{"versionId":null,"seq":2,"date":"x"}'],
  ['a whiteout outside the backup', '{"versionId":null,"whiteouts":["../../outside/precious"],"seq":2,"date":"x"}'],
  ['a whiteout that is a number', '{"versionId":null,"whiteouts":[42],"seq":2,"date":"x"}'],
  ['a version id that climbs', '{"versionId":"..","whiteouts":[],"seq":2,"date":"x"}'],
  ['a version id with a slash', '{"versionId":"../../outside","whiteouts":[],"seq":2,"date":"x"}'],
] as const) {
  test(`a damaged commit.json (${label}) is a typed error naming it, and nothing outside is touched`, async () => {
    const { backend, store, outsideIntact } = await interrupted();
    await writeWhole(backend, `.lifeboat/${UDID}/commit.json`, enc.encode(plan));
    await assert.rejects(store.openSession(UDID), (e: unknown) => e instanceof StoreError && /commit\.json/.test(e.message) && /being saved/.test(e.message));
    assert.ok(await outsideIntact());
  });
}
