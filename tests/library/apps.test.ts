// The Apps category: each app's own container plus the group and extension (plugin) containers
// that belong to it, with sizes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { generateBackup, type GeneratedFile } from './backup-generator.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { appOfContainer, readApps } from '../../src/library/categories/apps.ts';
import { describeContents } from '../../src/library/categories/overview.ts';

const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

test('appOfContainer: plugins under their app id, groups by the group.<app id> convention, longest id wins', () => {
  const ids = ['com.maker.app', 'com.maker.app.pro', 'com.other'];
  assert.equal(appOfContainer('AppDomain-com.anything', ids), 'com.anything');
  assert.equal(appOfContainer('AppDomainPlugin-com.maker.app.widget', ids), 'com.maker.app');
  assert.equal(appOfContainer('AppDomainPlugin-com.maker.app.pro.share', ids), 'com.maker.app.pro');
  assert.equal(appOfContainer('AppDomainPlugin-com.maker.application', ids), undefined, 'a prefix that is not a whole id part');
  assert.equal(appOfContainer('AppDomainGroup-group.com.maker.app', ids), 'com.maker.app');
  assert.equal(appOfContainer('AppDomainGroup-group.com.maker.app.shared', ids), 'com.maker.app');
  assert.equal(appOfContainer('AppDomainGroup-group.com.apple.notes', ids), undefined);
  assert.equal(appOfContainer('HomeDomain', ids), undefined);
});

test('readApps: group and plugin containers count toward their app; unrelated groups do not', async () => {
  const file = (domain: string, relativePath: string, size: number): GeneratedFile => ({ domain, relativePath, kind: 'file', content: new Uint8Array(size).fill(7) });
  const backup = await generateBackup({
    extra: [
      file('AppDomainGroup-group.com.example.app', 'Shared/state.bin', 1000),
      file('AppDomainGroup-group.com.example.app', 'Library/Preferences/group.plist', 24),
      file('AppDomainPlugin-com.example.app.widget', 'Library/timeline.dat', 500),
      file('AppDomainGroup-group.com.someone.else', 'x.bin', 9999),
      file('AppDomain-com.undeclared.app', 'Documents/a.txt', 3),
    ],
  });
  cleanup.push(backup.dir);
  const reader = await openBackupFolder(backup.dir);
  try {
    const apps = readApps(reader);
    assert.deepEqual(apps, [
      {
        bundleId: 'com.example.app',
        version: '1.2',
        dataSize: 19 + 48 + 1000 + 24 + 500,
        fileCount: 5,
        containers: [
          { domain: 'AppDomain-com.example.app', kind: 'app', size: 67, fileCount: 2 },
          { domain: 'AppDomainGroup-group.com.example.app', kind: 'group', size: 1024, fileCount: 2 },
          { domain: 'AppDomainPlugin-com.example.app.widget', kind: 'plugin', size: 500, fileCount: 1 },
        ],
      },
      // Not in Manifest.plist, but its own container is there: listed, without a version.
      { bundleId: 'com.undeclared.app', version: undefined, dataSize: 3, fileCount: 1, containers: [{ domain: 'AppDomain-com.undeclared.app', kind: 'app', size: 3, fileCount: 1 }] },
    ]);
    const contents = await describeContents(reader);
    assert.equal(contents.categories.find((c) => c.id === 'apps')!.count, 2);
  } finally {
    reader.close();
  }
});
