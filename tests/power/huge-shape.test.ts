// The huge dataset (≈1.3M files) at 1/50 scale: its shape (many apps, deep trees, mostly tiny files,
// a photo library, ≈1% mutation, streamed truth) and a CLI full + incremental backup of it checked
// against the streamed truth, the way `npm run bench -- huge` checks the real thing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { Dataset, datasetProfile, type Profile } from '../../src/virtual-iphone/dataset/dataset.ts';
import { checkBackupAgainstTruth } from '../../src/virtual-iphone/dataset/truth-check.ts';
import { readTruthLines, writeTruthLines } from '../../src/virtual-iphone/dataset/truth-lines.ts';
import { installBackupServices } from '../../src/virtual-iphone/services/index.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';
import { NodeFsBackupStore } from '../../src/stores/node/node-fs-backup-store.ts';
import { RestoreEngine, restoreSourceFromTree, type RestoreSource } from '../../src/restore/index.ts';
import { DirectServiceProvider } from '../backup/direct-service-provider.ts';
import { truthKeys } from '../restore/helpers.ts';

const TARGET_UDID = '00008101-000B0B000000702E';

const HUGE = datasetProfile('huge');
/** 1/40 of huge's apps and photos, each app as big as in huge: ≈30k files, same layout and size mix (no backup). */
const SHAPE: Profile = { ...HUGE, apps: HUGE.apps / 40, photos: HUGE.photos / 40, videos: 1, videoSize: 64 * 1024 };
/** Small enough to back up twice within a few seconds: 6 apps of 200 files in deep trees, 300 photos. */
const BACKED_UP: Profile = { ...HUGE, apps: 6, filesPerApp: 200, photos: 300, videos: 1, videoSize: 64 * 1024 };

test('the huge profile adds up to about 1.3M files', () => {
  const files = HUGE.apps * HUGE.filesPerApp + HUGE.photos;
  assert.ok(files > 1.2e6 && files < 1.4e6, `${files} files`);
  assert.equal(HUGE.layout, 'deep');
  assert.equal(HUGE.mutateFraction, 0.01);
});

test('scaled-down huge: many apps, deep trees, mostly tiny files, a photo library, ≈1% mutation', async () => {
  const d = await Dataset.create({ size: 'huge', seed: 5, profile: SHAPE });
  const entries = d.entries(false);
  const files = entries.filter((e) => e.kind === 'file');
  const appDomains = new Set(entries.filter((e) => e.domain.startsWith('AppDomain-')).map((e) => e.domain));
  assert.ok(appDomains.size >= SHAPE.apps, `${appDomains.size} app domains`);
  const appFiles = files.filter((e) => e.domain.startsWith('AppDomain-com.example.'));
  const depths = appFiles.map((e) => e.relativePath.split('/').length);
  const deepest = depths.reduce((a, b) => Math.max(a, b), 0);
  const deep = depths.filter((n) => n >= 6).length / appFiles.length;
  assert.ok(deepest >= 12, `deepest app file at depth ${deepest}`);
  assert.ok(deep > 0.3, `${(deep * 100).toFixed(0)}% of app files sit 6+ levels deep`);
  const dirs = entries.filter((e) => e.kind === 'dir' && e.domain.startsWith('AppDomain-com.example.'));
  assert.ok(appFiles.length / dirs.length > 5 && appFiles.length / dirs.length < 60, `${(appFiles.length / dirs.length).toFixed(1)} files per folder`);
  const tiny = appFiles.filter((e) => e.size < 1024).length / appFiles.length;
  assert.ok(tiny > 0.8 && tiny < 0.9, `${(tiny * 100).toFixed(0)}% of app files under 1 KiB`);
  const photos = files.filter((e) => e.domain === 'CameraRollDomain' && e.relativePath.endsWith('.JPG'));
  assert.equal(photos.length, SHAPE.photos);
  assert.ok(photos[0]!.size < 4096, `small pictures (${photos[0]!.size} bytes)`);

  const before = appFiles.length;
  const summary = d.mutate(3);
  const touched = summary.modified.length + summary.added.length + summary.removed.length;
  assert.ok(touched > before * 0.008 && touched < before * 0.012, `${touched} of ${before} app files touched`);
  assert.ok(summary.modified.length > 0 && summary.added.length > 0 && summary.removed.length > 0);
  const after = d.entries(false).filter((e) => e.kind === 'file').length;
  assert.equal(after, files.length + summary.added.length - summary.removed.length);
});

test('scaled-down huge over the CLI: full backup, 1% mutation, incremental backup, restore; all match the truth, Manifest.db checked in place', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-huge-shape-'));
  const dataset = await Dataset.create({ size: 'huge', seed: 6, profile: BACKED_UP });
  const iphone = new VirtualIPhone();
  installBackupServices(iphone, { dataset });
  const vu = await startVirtualUsbmuxd({ iphone });
  const env = { USBMUXD_SOCKET_ADDRESS: vu.address };
  const quiet = { out: (): void => undefined, err: (): void => undefined };
  const backup = async (): Promise<string> => {
    let out = '';
    const code = await runCli(['backup', dir], { out: (t) => (out += t), err: (t) => (out += t) }, env);
    assert.equal(code, 0, out);
    return out;
  };
  const check = async (label: string): Promise<void> => {
    const truthPath = join(dir, `${label}.truth.jsonl`);
    const count = await writeTruthLines(dataset, false, truthPath);
    const result = await checkBackupAgainstTruth(join(dir, iphone.udid), readTruthLines(truthPath));
    assert.deepEqual(result.problems, [], `${label} backup differs from the truth`);
    assert.equal(result.entries, count);
  };
  try {
    assert.equal(await runCli(['pair'], quiet, env), 0);
    const full = await backup();
    const fullFiles = Number(/Backup complete: (\d+) files/.exec(full)?.[1]);
    await check('full');
    dataset.mutate(9);
    const incremental = await backup();
    const sentFiles = Number(/Backup complete: (\d+) files/.exec(incremental)?.[1]);
    // Only what changed travels: ≈1% of the files (changed and added ones), not the whole phone again.
    assert.ok(sentFiles > 0 && sentFiles < fullFiles * 0.02, `incremental sent ${sentFiles} of ${fullFiles} files`);
    await check('incremental');

    // Restore it: over the CLI onto a second phone, and in-process onto a third through a source that
    // records every read, to show Manifest.db is checked where it lies (windows of ≤ 1 MiB, each
    // about once) and read whole only when the phone itself downloads it.
    const truth = truthKeys(await dataset.truth(false));
    const second = new VirtualIPhone({ udid: TARGET_UDID, seed: 11 });
    const tv = await startVirtualUsbmuxd({ iphone: second });
    try {
      const tenv = { USBMUXD_SOCKET_ADDRESS: tv.address };
      assert.equal(await runCli(['pair'], quiet, tenv), 0);
      let out = '';
      const code = await runCli(['restore', dir, '--source', iphone.udid, '--system', '--remove', '--no-reboot'], { out: (t) => (out += t), err: (t) => (out += t) }, tenv);
      assert.equal(code, 0, out);
      assert.deepEqual(truthKeys(await (await second.backup.dataset()).truth(false)), truth, 'the restored phone holds the backup');
    } finally {
      await tv.close();
    }

    const store = await NodeFsBackupStore.open(dir);
    const tree = (await store.current(iphone.udid))!;
    const manifestSize = (await tree.stat('Manifest.db'))!.size;
    const ranges: number[] = [];
    const streamed: number[] = [];
    const plain = restoreSourceFromTree(tree, dir);
    const spy: RestoreSource = {
      ...plain,
      readRange: (path, start, end) => {
        if (path === 'Manifest.db') ranges.push(end - start);
        return plain.readRange(path, start, end);
      },
      read: (path, chunkSize) => {
        if (path === 'Manifest.db') streamed.push(chunkSize);
        return plain.read(path, chunkSize);
      },
    };
    const third = new VirtualIPhone({ udid: TARGET_UDID, seed: 12 });
    const result = await RestoreEngine.run({
      provider: new DirectServiceProvider(third),
      source: spy,
      targetUdid: third.udid,
      sourceIdentifier: iphone.udid,
      deviceValues: { root: third.values.root, findMy: third.values.domains['com.apple.fmip'], diskUsage: third.values.domains['com.apple.disk_usage'] },
      options: { system: true, removeItemsNotRestored: true, reboot: false },
    });
    assert.equal(result.plan.fileCount, truth.filter((k) => k.split('|')[2] === 'file').length);
    assert.deepEqual(truthKeys(await (await third.backup.dataset()).truth(false)), truth);
    assert.ok(manifestSize > 1 << 20, `Manifest.db (${manifestSize} bytes) spans several windows`);
    assert.ok(ranges.length > 0 && Math.max(...ranges) <= 1 << 20, `checked in windows of at most 1 MiB (largest ${Math.max(...ranges)})`);
    const rangeBytes = ranges.reduce((a, b) => a + b, 0);
    assert.ok(rangeBytes <= manifestSize * 1.5, `the checks read ${rangeBytes} bytes of a ${manifestSize}-byte Manifest.db`);
    assert.equal(streamed.length, 1, 'read whole once: the phone downloading it');
  } finally {
    await vu.close();
    await rm(dir, { recursive: true, force: true });
  }
});
