import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectBytes } from '../../src/core/bytes.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { RestoreFileSystem } from '../../src/restore/restore-file-system.ts';
import { restoreSourceFromLibrary, restoreSourceFromTree } from '../../src/restore/restore-source.ts';
import { NodeFsBackupStore } from '../../src/stores/node/node-fs-backup-store.ts';

const UDID = '00008030-001A2B3C4D5E802E';

/** What the device would see for each path: the bytes, or the error's errno. */
async function outcome(fs: RestoreFileSystem, path: string): Promise<string> {
  try {
    return `bytes:${new TextDecoder().decode(await collectBytes(fs.read(`${UDID}/${path}`, 4096)))}`;
  } catch (e) {
    return `error:${(e as { errno?: string }).errno}`;
  }
}

test('RestoreFileSystem.read: a file, an empty file, a missing file and a folder, from a folder on disk and from a Lifeboat store', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lifeboat-restore-fs-'));
  try {
    const folder = join(root, 'folder', UDID);
    await mkdir(join(folder, 'ab'), { recursive: true });
    await writeFile(join(folder, 'ab', 'abcd'), 'payload');
    await writeFile(join(folder, 'ab', 'empty'), '');

    const store = await NodeFsBackupStore.open(join(root, 'store'));
    const session = await store.openSession(UDID);
    await session.writeFile('ab/abcd', new TextEncoder().encode('payload'));
    await session.writeFile('ab/empty', new Uint8Array(0));
    await session.commit();

    const sources = {
      folder: restoreSourceFromLibrary(new NodeFsSource(folder)),
      store: restoreSourceFromTree((await store.current(UDID))!),
    };
    for (const [name, source] of Object.entries(sources)) {
      const sent: string[] = [];
      const fs = new RestoreFileSystem(source, UDID, (path) => sent.push(path));
      assert.equal(await outcome(fs, 'ab/abcd'), 'bytes:payload', name);
      assert.equal(await outcome(fs, 'ab/empty'), 'bytes:', name);
      assert.equal(await outcome(fs, 'ab/missing'), 'error:ENOENT', name);
      assert.equal(await outcome(fs, 'zz/missing'), 'error:ENOENT', name);
      assert.equal(await outcome(fs, 'ab'), 'error:EISDIR', name);
      assert.deepEqual(sent, [`${UDID}/ab/abcd`, `${UDID}/ab/empty`], `${name}: only whole files count as sent`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
