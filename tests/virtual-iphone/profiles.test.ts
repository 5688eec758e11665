import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { NAMED_PROFILES } from '../../src/virtual-iphone/profiles.ts';
import { fileIdFor } from '../../src/virtual-iphone/services/index.ts';
import type { TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';
import { VirtualIPhone, type VirtualIPhoneOptions } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd, type VirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';

/**
 * Every named profile through the whole cycle: pair and back up with Lifeboat's CLI (full, then
 * incremental), pair and back up with Debian's idevicebackup2, open both backups in the library,
 * change the phone's data and restore the CLI's backup with the CLI. Profiles run concurrently.
 */

const FAST_KDF = { dpic: 1000, iter: 10 };
/** ios18-slow prepares for 3 min × this = 12 s: longer than the usbmuxd client's 10 s reply timeout. */
const SLOW_TIME_SCALE = 12_000 / 180_000;
/** Encrypted profiles: the ones whose difference is in encrypted backups. */
const ENCRYPTED = new Set(['ios10.1-iphone7', 'ios10.3-iphone6s']);
/** Also make an incremental backup: where the difference shows on the second run (old names, listing/copy, encrypted manifests, odd names). */
const INCREMENTAL = new Set([...ENCRYPTED, 'ios17-devicelink', 'ios17-names']);
/** Started first: the longest cycles (2,000 apps; 12 s of preparation per backup). */
const LONGEST = ['ios18-many-apps', 'ios18-slow'];
/** Covered by profiles-huge-file.test.ts (4.1 GiB through the host takes minutes). */
const OWN_TEST = new Set(['ios18-huge-file']);
const PASSWORD = 'pw-profiles';

function tool(v: VirtualUsbmuxd, file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: v.address }, timeout: 120_000, maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

async function cli(v: VirtualUsbmuxd, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { USBMUXD_SOCKET_ADDRESS: v.address });
  return { code, out, err };
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Plain backups: every payload on disk has the device's bytes. */
function assertPayloads(deviceDir: string, truth: readonly TruthEntry[], label: string): void {
  for (const entry of truth) {
    if (entry.kind !== 'file') continue;
    const id = fileIdFor(entry.domain, entry.relativePath);
    const path = join(deviceDir, id.slice(0, 2), id);
    assert.ok(existsSync(path), `${label}: missing payload for ${entry.domain}-${entry.relativePath}`);
    assert.equal(sha256(readFileSync(path)), entry.sha256, `${label}: content of ${entry.domain}-${entry.relativePath}`);
  }
}

/** The library opens the backup, lists exactly the device's entries and reads files back (decrypting when needed). */
async function assertLibrary(deviceDir: string, truth: readonly TruthEntry[], password: string | undefined, label: string): Promise<void> {
  const reader = await openBackupFolder(deviceDir, password);
  try {
    assert.equal(reader.locked, false, `${label}: unlocked`);
    const rows = [...reader.manifest.rows()];
    const listed = new Set(rows.map((r) => `${r.domain}\u0000${r.relativePath}`));
    assert.equal(rows.length, truth.length, `${label}: one library row per device entry`);
    for (const entry of truth) assert.ok(listed.has(`${entry.domain}\u0000${entry.relativePath}`), `${label}: library lists ${entry.domain}-${entry.relativePath}`);
    const files = truth.filter((e) => e.kind === 'file');
    // Every odd name and every 7th ordinary file: enough to see decryption and paths work, cheap enough for many apps.
    const sample = files.filter((e, i) => i % 7 === 0 || /[^\x20-\x7e]|.{200}|Case|older|Folder/i.test(e.relativePath));
    for (const entry of sample) {
      const bytes = await reader.readByPath(entry.domain, entry.relativePath);
      assert.ok(bytes, `${label}: library reads ${entry.domain}-${entry.relativePath}`);
      assert.equal(sha256(bytes), entry.sha256, `${label}: library content of ${entry.domain}-${entry.relativePath}`);
    }
  } finally {
    reader.close();
  }
}

function truthKeys(truth: readonly TruthEntry[]): string[] {
  return truth.map((e) => `${e.domain}|${e.relativePath}|${e.kind}|${e.size}|${e.sha256 ?? ''}|${e.target ?? ''}`).sort();
}

/** Types the passcode whenever the phone asks (the person holding it). */
function passcodeTyper(iphone: VirtualIPhone): { prompts: () => number; stop: () => void } {
  let prompts = 0;
  let showing = false;
  const timer = setInterval(() => {
    const presented = iphone.backup.passcode?.presented ?? false;
    if (presented && !showing) prompts++;
    showing = presented;
    if (presented) iphone.enterPasscode();
  }, 20);
  return { prompts: () => prompts, stop: () => clearInterval(timer) };
}

async function wholeCycle(name: string): Promise<void> {
  const encrypted = ENCRYPTED.has(name);
  const options: VirtualIPhoneOptions = { profile: name, dataset: 'small', seed: 3, kdf: FAST_KDF, timeScale: SLOW_TIME_SCALE };
  if (encrypted) options.backupPassword = PASSWORD;
  const iphone = new VirtualIPhone(options);
  const v = await startVirtualUsbmuxd({ iphone });
  const typer = passcodeTyper(iphone);
  const root = await mkdtemp(join(tmpdir(), `lifeboat-profile-${name}-`));
  const ours = join(root, 'lifeboat');
  const theirs = join(root, 'idevicebackup2');
  try {
    const dataset = await iphone.backup.dataset();
    const password = encrypted ? PASSWORD : undefined;

    const paired = await cli(v, ['pair']);
    assert.equal(paired.code, 0, `${name}: pair: ${paired.err}`);
    const full = await cli(v, ['backup', ours]);
    assert.equal(full.code, 0, `${name}: CLI backup: ${full.err}`);
    const truth = await dataset.truth(encrypted);
    if (!encrypted) assertPayloads(join(ours, iphone.udid), truth, `${name} CLI`);
    await assertLibrary(join(ours, iphone.udid), truth, password, `${name} CLI`);

    let backups = 1;
    let truthAfter = truth;
    if (INCREMENTAL.has(name)) {
      dataset.mutate(7);
      // Incremental: the device reads our Status.plist/Manifest back (and ios17-devicelink lists and copies).
      const incremental = await cli(v, ['backup', ours]);
      assert.equal(incremental.code, 0, `${name}: CLI incremental backup: ${incremental.err}`);
      truthAfter = await dataset.truth(encrypted);
      await assertLibrary(join(ours, iphone.udid), truthAfter, password, `${name} CLI incremental`);
      backups++;
    }

    await mkdir(theirs);
    const ipair = await tool(v, '/usr/bin/idevicepair', ['pair']);
    assert.equal(ipair.code, 0, `${name}: idevicepair: ${ipair.out}`);
    const made = await tool(v, '/usr/bin/idevicebackup2', ['backup', '--full', theirs]);
    assert.match(made.out, /Backup Successful/, `${name}: idevicebackup2: ${made.out.slice(-2000)}`);
    backups++;
    if (!encrypted) assertPayloads(join(theirs, iphone.udid), truthAfter, `${name} idevicebackup2`);
    await assertLibrary(join(theirs, iphone.udid), truthAfter, password, `${name} idevicebackup2`);

    // The phone's data moves on; restoring the CLI's backup brings the backed-up data back.
    dataset.mutate(8);
    assert.notDeepEqual(truthKeys(await dataset.truth(encrypted)), truthKeys(truthAfter));
    const restoreArgs = ['restore', join(ours, iphone.udid), '--system', '--remove', '--no-reboot', ...(password ? ['--password', password] : [])];
    let changes = 0;
    iphone.backup.onChange(() => changes++);
    const restored = await cli(v, restoreArgs);
    assert.equal(restored.code, 0, `${name}: CLI restore: ${restored.err}`);
    assert.equal(changes, 1, `${name}: the restore is announced (--truth is rewritten on it)`);
    assert.deepEqual(truthKeys(await dataset.truth(encrypted)), truthKeys(truthAfter), `${name}: the phone holds the backed-up data again`);

    if (iphone.namedProfile!.settings.passcode) {
      // One sheet per backup where the release shows it, and one for the restore.
      const expected = (name === 'ios16.0-passcode' ? 0 : backups) + 1;
      assert.equal(typer.prompts(), expected, `${name}: passcode sheets`);
    }
  } finally {
    typer.stop();
    await v.close();
    await rm(root, { recursive: true, force: true });
  }
}

test('every profile: pair, back up (CLI full + incremental, idevicebackup2), library, restore', { concurrency: 4, timeout: 600_000 }, async (t) => {
  const names = NAMED_PROFILES.map((p) => p.name).filter((n) => !OWN_TEST.has(n));
  const ordered = [...LONGEST.filter((n) => names.includes(n)), ...names.filter((n) => !LONGEST.includes(n))];
  await Promise.all(ordered.map((name) => t.test(name, () => wholeCycle(name))));
});
