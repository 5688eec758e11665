import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledError, FindMyEnabledError, InsufficientSpaceError, WrongPasswordError } from '../../src/core/errors.ts';
import { encodeBinaryPlist } from '../../src/plist/index.ts';
import {
  DeviceTooOldError,
  RestoreEngine,
  restoreSourceFromLibrary,
  restoreSourceFromTree,
  UnverifiableBackupError,
  type RestoreOptions,
  type RestorePlan,
  type RestoreSource,
} from '../../src/restore/index.ts';
import { NodeFsSource } from '../../src/library/node/fs-source.ts';
import type { TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';
import type { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { DirectServiceProvider } from '../backup/direct-service-provider.ts';
import { iphone, lifeboatBackup, restoreValuesOf, SOURCE_UDID, TARGET_UDID, truthKeys } from './helpers.ts';

async function restore(target: VirtualIPhone, source: RestoreSource, options: RestoreOptions = {}, extra: { values?: ReturnType<typeof restoreValuesOf>; signal?: AbortSignal } = {}) {
  const provider = new DirectServiceProvider(target);
  let plan: RestorePlan | undefined;
  const run = RestoreEngine.run({
    provider,
    source,
    targetUdid: target.udid,
    sourceIdentifier: SOURCE_UDID,
    deviceValues: extra.values ?? restoreValuesOf(target),
    options: { system: true, removeItemsNotRestored: true, reboot: false, ...options },
    onPlan: (p) => (plan = p),
    ...(extra.signal ? { signal: extra.signal } : {}),
  });
  return { run, provider, plan: () => plan };
}

async function truthOf(device: VirtualIPhone, encrypted = false): Promise<string[]> {
  return truthKeys(await (await device.backup.dataset()).truth(encrypted));
}

/** `truth` without the files/links `drop` matches, and without folders that are left empty. */
function without(truth: readonly TruthEntry[], drop: (e: TruthEntry) => boolean): TruthEntry[] {
  const kept = truth.filter((e) => e.kind !== 'dir' && !drop(e));
  const dirs = new Set<string>();
  for (const e of kept) {
    const parts = e.relativePath.split('/');
    for (let d = 0; d < parts.length; d++) dirs.add(`${e.domain}|${parts.slice(0, d).join('/')}`);
  }
  return [...kept, ...truth.filter((e) => e.kind === 'dir' && dirs.has(`${e.domain}|${e.relativePath}`))];
}

describe('restore of an unencrypted iPhone backup', () => {
  let backup: Awaited<ReturnType<typeof lifeboatBackup>>;
  let source: RestoreSource;
  before(async () => {
    backup = await lifeboatBackup(iphone({ udid: SOURCE_UDID, seed: 5 }));
    source = restoreSourceFromTree((await backup.store.current(SOURCE_UDID))!, backup.dir);
  });
  after(() => backup.cleanup());

  it('Find My on → FindMyEnabledError before the phone is touched; off → the device holds the backed-up data', async () => {
    const target = iphone({ udid: TARGET_UDID, seed: 9 });
    const before = await truthOf(target);
    target.values.domains['com.apple.fmip'] = { IsAssociated: true };
    const on = await restore(target, source);
    await assert.rejects(on.run, (e: unknown) => e instanceof FindMyEnabledError && /Find My/.test(e.action ?? ''));
    assert.deepEqual(on.provider.started, [], 'no service was started');
    assert.deepEqual(await truthOf(target), before);

    target.values.domains['com.apple.fmip'] = { IsAssociated: false };
    const events: string[] = [];
    const ok = await RestoreEngine.run({
      provider: new DirectServiceProvider(target),
      source,
      targetUdid: target.udid,
      sourceIdentifier: SOURCE_UDID,
      deviceValues: restoreValuesOf(target),
      options: { system: true, removeItemsNotRestored: true, reboot: false },
      onProgress: (p) => events.push(p.stage),
    });
    assert.ok(ok.filesSent > 100 && ok.bytesSent > 1_000_000, `${ok.filesSent} files, ${ok.bytesSent} bytes`);
    assert.equal(ok.plan.crossDevice, false);
    assert.deepEqual(await truthOf(target), truthKeys(backup.truth));
    assert.equal(events[0], 'checking');
    assert.equal(events.at(-1), 'done');
    assert.ok(events.includes('sending'));
  });

  it('without --remove the device keeps what the backup does not have', async () => {
    const target = iphone({ udid: TARGET_UDID, seed: 9 });
    const own = await truthOf(target);
    await (await restore(target, source, { removeItemsNotRestored: false })).run;
    const now = new Set(await truthOf(target));
    for (const e of truthKeys(backup.truth)) assert.ok(now.has(e), `restored ${e}`);
    const kept = own.filter((e) => now.has(e) && !truthKeys(backup.truth).includes(e));
    assert.ok(kept.length > 10, 'items only the device had are still there');
  });

  it('older device iOS → DeviceTooOldError; not enough space → InsufficientSpaceError; both before touching the phone', async () => {
    const old = iphone({ udid: TARGET_UDID, seed: 9, productVersion: '17.5' });
    const r1 = await restore(old, source);
    await assert.rejects(r1.run, (e: unknown) => e instanceof DeviceTooOldError && e.backupVersion === '18.6' && e.deviceVersion === '17.5');
    assert.deepEqual(r1.provider.started, []);

    const small = iphone({ udid: TARGET_UDID, seed: 9 });
    small.values.domains['com.apple.disk_usage']!['AmountDataAvailable'] = 1_000_000;
    const r2 = await restore(small, source);
    await assert.rejects(r2.run, InsufficientSpaceError);
    assert.deepEqual(r2.provider.started, []);

    // The device enforces it too (105) when the host's figures are stale.
    const stale = { ...restoreValuesOf(small), diskUsage: { AmountDataAvailable: 1e12 } };
    const r3 = await restore(small, source, {}, { values: stale });
    await assert.rejects(r3.run, (e: unknown) => e instanceof InsufficientSpaceError && /105/.test(e.message));
  });

  it('a cancelled restore stops with CancelledError', async () => {
    const target = iphone({ udid: TARGET_UDID, seed: 9 });
    const ac = new AbortController();
    ac.abort();
    const r = await restore(target, source, {}, { signal: ac.signal });
    await assert.rejects(r.run, CancelledError);
  });
});

describe('unverifiable backups are refused before the phone is touched', () => {
  let backup: Awaited<ReturnType<typeof lifeboatBackup>>;
  before(async () => {
    backup = await lifeboatBackup(iphone({ udid: SOURCE_UDID, seed: 5 }));
  });
  after(() => backup.cleanup());

  it('a missing payload, then an unfinished Status.plist', async () => {
    const folder = join(backup.dir, SOURCE_UDID);
    const source = restoreSourceFromLibrary(new NodeFsSource(folder));
    const victim = backup.truth.find((e) => e.kind === 'file' && e.domain === 'HomeDomain')!;
    const id = createHash('sha1').update(`${victim.domain}-${victim.relativePath}`).digest('hex');
    await rm(join(folder, id.slice(0, 2), id));
    const target = iphone({ udid: TARGET_UDID, seed: 9 });
    const r1 = await restore(target, source);
    await assert.rejects(r1.run, (e: unknown) => e instanceof UnverifiableBackupError && e.problems.some((p) => p.includes(victim.relativePath)));
    assert.deepEqual(r1.provider.started, []);

    await writeFile(join(folder, 'Status.plist'), encodeBinaryPlist({ SnapshotState: 'uploading', Version: '3.3' }));
    const r2 = await restore(target, source);
    await assert.rejects(r2.run, (e: unknown) => e instanceof UnverifiableBackupError && /interrupted/.test(e.message));
    assert.deepEqual(r2.provider.started, []);
  });
});

describe('encrypted backups', () => {
  let backup: Awaited<ReturnType<typeof lifeboatBackup>>;
  let source: RestoreSource;
  before(async () => {
    backup = await lifeboatBackup(iphone({ udid: SOURCE_UDID, seed: 5, backupPassword: 'sekret' }));
    source = restoreSourceFromTree((await backup.store.current(SOURCE_UDID))!);
  });
  after(() => backup.cleanup());

  it('refuse a wrong or missing password before touching the phone, restore with the right one', async () => {
    const target = iphone({ udid: TARGET_UDID, seed: 9 });
    const wrong = await restore(target, source, { password: 'nope' });
    await assert.rejects(wrong.run, WrongPasswordError);
    assert.deepEqual(wrong.provider.started, []);
    const none = await restore(target, source);
    await assert.rejects(none.run, (e: unknown) => e instanceof WrongPasswordError && /encrypted/.test(e.message));

    const ok = await restore(target, source, { password: 'sekret' });
    const result = await ok.run;
    assert.equal(result.plan.encrypted, true);
    assert.deepEqual(await truthOf(target, true), truthKeys(backup.truth), 'keychain and Health come back too');
    assert.ok(backup.truth.some((e) => e.domain === 'KeychainDomain'));
    assert.equal(target.values.domains['com.apple.mobile.backup']!['WillEncrypt'], true, 'backup encryption comes back on');
  });
});

describe('an iPad backup restored onto an iPhone', () => {
  it('leaves out exactly photos, Messages attachments, Voice Memos and iPad-only apps', async () => {
    const ipad = iphone({ udid: SOURCE_UDID, seed: 5, productType: 'iPad13,4' });
    const backup = await lifeboatBackup(ipad);
    try {
      const source = restoreSourceFromTree((await backup.store.current(SOURCE_UDID))!);
      const target = iphone({ udid: TARGET_UDID, seed: 9 });
      const r = await restore(target, source);
      const result = await r.run;
      const plan = result.plan;
      assert.equal(plan.crossDevice, true);
      assert.deepEqual(plan.appsNotBuiltForTarget, ['com.example.maps']);
      assert.deepEqual(plan.leftOut.map((l) => l.category).sort(), ['apps', 'messages-attachments', 'photos', 'voice-memos']);
      assert.ok(result.warnings.some((w) => /iPad/.test(w)));

      const dropped = (e: TruthEntry): boolean =>
        e.domain === 'CameraRollDomain' ||
        ((e.domain === 'HomeDomain' || e.domain === 'MediaDomain') && e.relativePath.startsWith('Library/SMS/Attachments/')) ||
        (e.domain === 'MediaDomain' && e.relativePath.startsWith('Media/Recordings/')) ||
        e.domain === 'AppDomain-com.example.maps' ||
        e.domain === 'AppDomainPlugin-com.example.maps.widget';
      const expected = without(backup.truth, dropped);
      assert.ok(expected.length < backup.truth.length - 20);
      assert.deepEqual(await truthOf(target), truthKeys(expected));
      for (const l of plan.leftOut) assert.equal(l.files, backup.truth.filter((e) => e.kind === 'file' && dropped(e) && categoryOf(e) === l.category).length, l.category);
      const apps = (await target.backup.dataset()).apps.map((a) => a.bundleId);
      assert.ok(!apps.includes('com.example.maps') && apps.includes('com.example.chat'), apps.join(','));
    } finally {
      await backup.cleanup();
    }
  });
});

function categoryOf(e: TruthEntry): string {
  if (e.domain === 'CameraRollDomain') return 'photos';
  if (e.relativePath.startsWith('Library/SMS/Attachments/')) return 'messages-attachments';
  if (e.relativePath.startsWith('Media/Recordings/')) return 'voice-memos';
  return 'apps';
}
