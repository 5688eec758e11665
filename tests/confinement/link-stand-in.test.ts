import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateBackup, type GeneratedBackup } from '../library/backup-generator.ts';
import { BackupReader } from '../../src/library/backup-reader.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import { entriesUnder, exportTree } from '../../src/library/export/exports.ts';
import { DirectoryHandleTarget, type WritableDirectoryHandleLike, type WritableFileHandleLike } from '../../src/library/export/directory-handle-target.ts';

/**
 * A browser folder handle in memory, with the one property that matters here: getFileHandle +
 * createWritable on an existing name replaces its bytes, silently. Every write is counted.
 */
class MemoryDirectory implements WritableDirectoryHandleLike {
  readonly dirs = new Map<string, MemoryDirectory>();
  readonly files = new Map<string, Uint8Array>();
  constructor(private readonly writes: Map<string, number>, private readonly at = '') {}

  async getDirectoryHandle(name: string): Promise<WritableDirectoryHandleLike> {
    let dir = this.dirs.get(name);
    if (!dir) this.dirs.set(name, (dir = new MemoryDirectory(this.writes, `${this.at}${name}/`)));
    return dir;
  }

  async getFileHandle(name: string): Promise<WritableFileHandleLike> {
    const path = `${this.at}${name}`;
    return {
      createWritable: async () => {
        const chunks: Uint8Array[] = [];
        return {
          write: async (data: Uint8Array) => void chunks.push(data.slice()),
          close: async () => {
            this.files.set(name, Buffer.concat(chunks));
            this.writes.set(path, (this.writes.get(path) ?? 0) + 1);
          },
        };
      },
    };
  }

  read(path: string): string | undefined {
    const parts = path.split('/');
    const name = parts.pop()!;
    let dir: MemoryDirectory | undefined = this;
    for (const p of parts) dir = dir?.dirs.get(p);
    const bytes = dir?.files.get(name);
    return bytes && new TextDecoder().decode(bytes);
  }
}

const text = (s: string) => new TextEncoder().encode(s);
let backup: GeneratedBackup | undefined;
after(async () => {
  if (backup) await rm(backup.dir, { recursive: true, force: true });
});

test('a symlink row whose stand-in name is a file of the same backup: the file keeps its bytes, the link takes a free name and is reported', async () => {
  backup = await generateBackup({
    extra: [
      // The link comes first in the Manifest, its namesakes after it, and the reverse.
      { domain: 'HomeDomain', relativePath: 'Library/notes', kind: 'symlink', target: '/private/var/mobile/notes' },
      { domain: 'HomeDomain', relativePath: 'Library/notes.symlink.txt', kind: 'file', content: text('real data') },
      { domain: 'HomeDomain', relativePath: 'Library/notes.symlink-2.txt', kind: 'file', content: text('more real data') },
      // On a case-insensitive disk "Cache.SYMLINK.txt" is the same file as "Cache.symlink.txt".
      { domain: 'HomeDomain', relativePath: 'Library/Cache.SYMLINK.txt', kind: 'file', content: text('cache data') },
      { domain: 'HomeDomain', relativePath: 'Library/Cache', kind: 'symlink', target: '/private/var/mobile/Cache' },
    ],
  });
  const reader = await BackupReader.open(new NodeFsSource(backup.dir));
  const writes = new Map<string, number>();
  const root = new MemoryDirectory(writes);
  const result = await exportTree(reader, entriesUnder(reader, 'HomeDomain', 'Library'), new DirectoryHandleTarget(root));
  reader.close();

  assert.equal(root.read('HomeDomain/Library/notes.symlink.txt'), 'real data');
  assert.equal(root.read('HomeDomain/Library/notes.symlink-2.txt'), 'more real data');
  assert.equal(root.read('HomeDomain/Library/notes.symlink-3.txt'), '/private/var/mobile/notes');
  assert.equal(root.read('HomeDomain/Library/Cache.SYMLINK.txt'), 'cache data');
  assert.equal(root.read('HomeDomain/Library/Cache.symlink.txt'), undefined);
  assert.equal(root.read('HomeDomain/Library/Cache.symlink-2.txt'), '/private/var/mobile/Cache');
  // A link no file competes with keeps the plain stand-in name, unreported.
  assert.equal(root.read('HomeDomain/Library/Preferences.symlink.txt'), '/private/var/mobile/Library/Preferences');
  for (const [path, n] of writes) assert.equal(n, 1, `${path} was written ${n} times`);

  const renamed = result.refused.filter((r) => r.reason === 'renamed');
  assert.deepEqual(renamed.map((r) => r.path).sort(), ['HomeDomain/Library/Cache', 'HomeDomain/Library/notes']);
  assert.match(renamed.find((r) => r.path === 'HomeDomain/Library/notes')!.message, /“HomeDomain\/Library\/notes”.*“HomeDomain\/Library\/notes\.symlink-3\.txt”.*“HomeDomain\/Library\/notes\.symlink\.txt”/);
  assert.equal(result.refused.length, renamed.length, JSON.stringify(result.refused));
});
