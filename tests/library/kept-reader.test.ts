// Adding a picked folder reads its backup for a summary (Manifest.db's index: ≈5 s at 1.3M files), and
// opening it usually follows. KeptReader hands that reader to the open only for the same place and
// unchanged files, and closes it otherwise: on expiry, on a mismatch, or when another is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeptReader, openedFilesStamp } from '../../src/library/kept-reader.ts';
import { rm } from 'node:fs/promises';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { generateBackup } from './backup-generator.ts';
import { asPickedFolder } from '../helpers/picked-folder-source.ts';
import type { BackupSource } from '../../src/library/source/backup-source.ts';

interface FakeReader {
  closed: number;
  holdsFileHandle: boolean;
  close(): void;
}

function fakeReader(holdsFileHandle = false): FakeReader & BackupReader {
  const r = {
    holdsFileHandle,
    closed: 0,
    close() {
      r.closed++;
    },
  };
  return r as unknown as FakeReader & BackupReader;
}

type Files = Record<string, { size: number; modified: number }>;

/** A source whose files are Files with a size and modification time, and nothing else. */
function fakeSource(files: Files, withBlobs = true): BackupSource {
  const source: Partial<BackupSource> = { label: 'fake' };
  if (withBlobs) {
    source.fileBlob = async (path: string) => {
      const f = files[path];
      if (!f) throw new Error(`no ${path}`);
      return new File([new Uint8Array(f.size)], path, { lastModified: f.modified });
    };
  }
  return source as BackupSource;
}

const backupFiles = (): Files => ({
  'Manifest.db': { size: 4096, modified: 1000 },
  'Manifest.plist': { size: 100, modified: 1000 },
  'Info.plist': { size: 200, modified: 1000 },
  'Status.plist': { size: 50, modified: 1000 },
});

const samePlace = async (a: string, b: string): Promise<boolean> => a === b;

test('the kept reader goes to an open of the same place with unchanged files, once', async () => {
  const kept = new KeptReader<string>(samePlace);
  const files = backupFiles();
  const reader = fakeReader();
  assert.equal(await kept.keep('folder-a', fakeSource(files), reader), true);
  assert.equal(await kept.take('folder-a', fakeSource(files)), reader);
  assert.equal(reader.closed, 0);
  assert.equal(await kept.take('folder-a', fakeSource(files)), undefined, 'handed over once');
  kept.clear();
  assert.equal(reader.closed, 0, 'the caller owns it now');
});

test('a changed file, another place or no Files: the kept reader is closed, not handed over', async () => {
  const changes: [string, (f: Files) => void][] = [
    ['Manifest.db rewritten', (f) => (f['Manifest.db']!.modified = 2000)],
    ['Manifest.db grown', (f) => (f['Manifest.db']!.size = 8192)],
    ['Status.plist rewritten', (f) => (f['Status.plist']!.modified = 1001)],
    ['Info.plist gone', (f) => delete f['Info.plist']],
  ];
  for (const [what, change] of changes) {
    const kept = new KeptReader<string>(samePlace);
    const reader = fakeReader();
    await kept.keep('folder-a', fakeSource(backupFiles()), reader);
    const now = backupFiles();
    change(now);
    assert.equal(await kept.take('folder-a', fakeSource(now)), undefined, what);
    assert.equal(reader.closed, 1, what);
  }
  const kept = new KeptReader<string>(samePlace);
  const reader = fakeReader();
  await kept.keep('folder-a', fakeSource(backupFiles()), reader);
  assert.equal(await kept.take('folder-b', fakeSource(backupFiles())), undefined);
  assert.equal(reader.closed, 1, 'another place');

  const unstamped = fakeReader();
  assert.equal(await kept.keep('folder-a', fakeSource(backupFiles(), false), unstamped), false);
  assert.equal(unstamped.closed, 1, 'a source without Files cannot tell a change: nothing is kept');
  assert.equal(await kept.take('folder-a', fakeSource(backupFiles(), false)), undefined);

  const holding = fakeReader(true);
  assert.equal(await kept.keep('folder-a', fakeSource(backupFiles()), holding), false);
  assert.equal(holding.closed, 1, 'a reader holding an OPFS sync access handle would block a backup into that folder: not kept');
  assert.equal(await kept.take('folder-a', fakeSource(backupFiles())), undefined);
});

test('a kept reader is closed when another is kept, when cleared, and when its time is up', async () => {
  const kept = new KeptReader<string>(samePlace, 30);
  const first = fakeReader();
  const second = fakeReader();
  await kept.keep('folder-a', fakeSource(backupFiles()), first);
  await kept.keep('folder-b', fakeSource(backupFiles()), second);
  assert.equal(first.closed, 1);
  kept.clear();
  assert.equal(second.closed, 1);
  kept.clear();
  assert.equal(second.closed, 1, 'closed once');

  const third = fakeReader();
  await kept.keep('folder-a', fakeSource(backupFiles()), third);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(third.closed, 1, 'closed when its time is up');
  assert.equal(await kept.take('folder-a', fakeSource(backupFiles())), undefined);
  assert.equal(third.closed, 1);
});

test('the stamp names each file a reader opens by size and modification time', async () => {
  const files = backupFiles();
  const stamp = await openedFilesStamp(fakeSource(files));
  assert.equal(stamp, 'Manifest.db:4096:1000|Manifest.plist:100:1000|Status.plist:50:1000|Info.plist:200:1000');
  delete files['Status.plist'];
  assert.equal(await openedFilesStamp(fakeSource(files)), 'Manifest.db:4096:1000|Manifest.plist:100:1000|Status.plist:-|Info.plist:200:1000');
  assert.equal(await openedFilesStamp(fakeSource(files, false)), null);
});

test('a reader says when it reads Manifest.db through a file it holds open, and not otherwise', async () => {
  const backup = await generateBackup();
  try {
    const held = await BackupReader.open(new NodeFsSource(backup.dir));
    assert.equal(held.holdsFileHandle, true, 'opened in place through the source’s file');
    held.close();
    // The same files without synchronous reads, as a picked folder's: nothing held.
    const loaded = await BackupReader.open(asPickedFolder(new NodeFsSource(backup.dir)));
    assert.equal(loaded.manifest.totals().fileCount > 0, true);
    assert.equal(loaded.holdsFileHandle, false);
    loaded.close();
  } finally {
    await rm(backup.dir, { recursive: true, force: true });
  }
});
