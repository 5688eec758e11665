import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startVirtualUsbmuxd, type VirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { decodePlist, isPlistDict } from '../../src/plist/index.ts';
import { fileIdFor } from '../../src/virtual-iphone/services/index.ts';
import type { TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';

/** Debian's idevicebackup2 1.3.0 backing up the virtual iPhone through the fake usbmuxd. */

const KDF = { dpic: 1000, iter: 10 };

function run(v: VirtualUsbmuxd, file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, USBMUXD_SOCKET_ADDRESS: v.address }, timeout: 60_000, maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

function sqliteRows(dbPath: string, sql: string): string[] {
  return new Promise<string[]>((resolve, reject) => {
    execFile('/usr/bin/sqlite3', [dbPath, sql], (error, stdout) => (error ? reject(error) : resolve(stdout.split('\n').filter(Boolean))));
  }) as unknown as string[];
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function assertBackupMatchesTruth(deviceDir: string, truth: TruthEntry[]): Promise<void> {
  for (const entry of truth) {
    if (entry.kind !== 'file') continue;
    const id = fileIdFor(entry.domain, entry.relativePath);
    const path = join(deviceDir, id.slice(0, 2), id);
    assert.ok(existsSync(path), `missing payload for ${entry.domain}-${entry.relativePath}`);
    assert.equal(sha256(readFileSync(path)), entry.sha256, `content of ${entry.domain}-${entry.relativePath}`);
  }
  const rows = await sqliteRows(join(deviceDir, 'Manifest.db'), 'SELECT fileID, flags FROM Files');
  assert.equal(rows.length, truth.length, 'one Manifest.db row per truth entry');
  const flags = new Map(rows.map((r) => r.split('|') as [string, string]));
  for (const entry of truth) {
    assert.equal(flags.get(fileIdFor(entry.domain, entry.relativePath)), String({ file: 1, dir: 2, symlink: 4 }[entry.kind]), `${entry.domain}-${entry.relativePath}`);
  }
  const status = decodePlist(readFileSync(join(deviceDir, 'Status.plist')));
  assert.ok(isPlistDict(status) && status['SnapshotState'] === 'finished');
  assert.ok(!existsSync(join(deviceDir, 'Snapshot')), 'Snapshot folder removed');
}

test('idevicebackup2: full backup, incremental after mutate, then encryption on → decryptable encrypted backup', async () => {
  const iphone = new VirtualIPhone({ dataset: 'small', seed: 5, kdf: KDF });
  const v = await startVirtualUsbmuxd({ iphone });
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-ib2-'));
  try {
    const pair = await run(v, '/usr/bin/idevicepair', ['pair']);
    assert.equal(pair.code, 0, pair.out);
    const deviceDir = join(root, iphone.udid);
    const dataset = await iphone.backup.dataset();

    const full = await run(v, '/usr/bin/idevicebackup2', ['backup', '--full', root]);
    assert.equal(full.code, 0, full.out);
    assert.match(full.out, /Backup Successful/);
    await assertBackupMatchesTruth(deviceDir, await dataset.truth(false));
    assert.ok(existsSync(join(deviceDir, 'Info.plist')), 'host wrote Info.plist');
    const info = decodePlist(readFileSync(join(deviceDir, 'Info.plist')));
    assert.ok(isPlistDict(info) && Array.isArray(info['Installed Applications']) && info['Installed Applications'].length === dataset.apps.length);
    assert.ok(isPlistDict(info) && isPlistDict(info['iTunes Files']) && info['iTunes Files']['IC-Info.sidb'] instanceof Uint8Array);

    const change = dataset.mutate(42);
    const incremental = await run(v, '/usr/bin/idevicebackup2', ['backup', root]);
    assert.equal(incremental.code, 0, incremental.out);
    assert.match(incremental.out, /Backup Successful/);
    // Only the changed files (plus Status/Manifest) travel in an incremental backup.
    const received = Number(/Received (\d+) files/.exec(incremental.out)?.[1]);
    assert.ok(received <= change.modified.length + change.added.length + 8, `incremental sent ${received} files`);
    await assertBackupMatchesTruth(deviceDir, await dataset.truth(false));
    for (const gone of change.removed) {
      const dash = gone.indexOf('-', 'AppDomain-'.length);
      const id = fileIdFor(gone.slice(0, dash), gone.slice(dash + 1));
      assert.ok(!existsSync(join(deviceDir, id.slice(0, 2), id)), `removed ${gone}`);
    }

    const on = await run(v, '/usr/bin/idevicebackup2', ['encryption', 'on', 'sekret', root]);
    assert.equal(on.code, 0, on.out);
    assert.match(on.out, /encryption has been enabled/);
    assert.equal(iphone.values.domains['com.apple.mobile.backup']!['WillEncrypt'], true);
    const again = await run(v, '/usr/bin/idevicebackup2', ['encryption', 'on', 'other', root]);
    assert.match(again.out, /already enabled/);

    const encrypted = await run(v, '/usr/bin/idevicebackup2', ['backup', root]);
    assert.equal(encrypted.code, 0, encrypted.out);
    assert.match(encrypted.out, /Backup Successful/);
    const assertDecryptsToTruth = async (): Promise<Record<string, string>> => {
      const decrypted = await run(v, '/usr/bin/python3', [join(import.meta.dirname, 'decrypt_backup.py'), deviceDir, 'sekret']);
      assert.equal(decrypted.code, 0, decrypted.out);
      const result = JSON.parse(decrypted.out) as { files: Record<string, string>; rows: number };
      const truth = await dataset.truth(true);
      assert.equal(result.rows, truth.length);
      for (const entry of truth.filter((e) => e.kind === 'file')) {
        assert.equal(result.files[`${entry.domain}-${entry.relativePath}`], entry.sha256, `${entry.domain}-${entry.relativePath}`);
      }
      return result.files;
    };
    assert.ok((await assertDecryptsToTruth())['KeychainDomain-keychain-backup.plist'], 'keychain only in the encrypted backup');

    // Encrypted incrementals: the device takes the rows of the Manifest.db it sent when the host's copy
    // is that file (the same SHA-256), and reads them back from the file when the host kept an older one.
    const sentManifest = ['Manifest.db', 'Manifest.plist'].map((name) => [name, readFileSync(join(deviceDir, name))] as const);
    const isIncremental = async (out: string): Promise<void> => {
      assert.match(out, /Backup Successful/);
      const received = Number(/Received (\d+) files/.exec(out)?.[1]);
      assert.ok(received < (await dataset.truth(true)).length / 4, `an incremental: ${received} files received`);
    };
    dataset.mutate(43);
    const asSent = await run(v, '/usr/bin/idevicebackup2', ['backup', root]);
    await isIncremental(asSent.out);
    await assertDecryptsToTruth();
    for (const [name, bytes] of sentManifest) writeFileSync(join(deviceDir, name), bytes);
    dataset.mutate(44);
    const readBack = await run(v, '/usr/bin/idevicebackup2', ['backup', root]);
    await isIncremental(readBack.out);
    await assertDecryptsToTruth();

    const wrong = await run(v, '/usr/bin/idevicebackup2', ['encryption', 'off', 'nope', root]);
    assert.match(wrong.out, /ErrorCode 207/);
    const off = await run(v, '/usr/bin/idevicebackup2', ['encryption', 'off', 'sekret', root]);
    assert.match(off.out, /encryption has been disabled/);
    assert.equal(iphone.values.domains['com.apple.mobile.backup']!['WillEncrypt'], false);
  } finally {
    await v.close();
    rmSync(root, { recursive: true, force: true });
  }
});
