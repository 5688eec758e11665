import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, TEST_KDF } from '../library/interop-writers.ts';
import { VirtualIPhone } from '../../src/virtual-iphone/virtual-iphone.ts';
import { startVirtualUsbmuxd } from '../helpers/virtual-usbmuxd.ts';
import type { MutationSummary } from '../../src/virtual-iphone/dataset/index.ts';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { diffBackupFiles, diffBackups } from '../../src/library/diff/backup-diff.ts';
import type { ManifestDiff } from '../../src/library/diff/manifest-diff.ts';

/**
 * Two pairs of real backups of one virtual iPhone — plain before/after `mutate`, then encrypted
 * before/after another `mutate` — made once by Lifeboat's CLI, and every diff checked against the
 * phone's own list of what it changed.
 */
const PASSWORD = 'diff pw ✓';
const dirs: string[] = [];
const made = (async () => {
  const iphone = new VirtualIPhone({ dataset: 'small', kdf: TEST_KDF, seed: 21 });
  const usbmuxd = await startVirtualUsbmuxd({ iphone });
  const env = { USBMUXD_SOCKET_ADDRESS: usbmuxd.address };
  const must = async (argv: string[]) => {
    const r = await cli(argv, env);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.out}${r.err}`);
  };
  const temp = async (label: string) => {
    const dir = await mkdtemp(join(tmpdir(), `lifeboat-diff-${label}-`));
    dirs.push(dir);
    return dir;
  };
  try {
    const dataset = await iphone.backup.dataset();
    await must(['pair']);
    // One pair of backups: before, then a copy brought up to date after the phone changed.
    const pair = async (label: string, seed: number): Promise<{ before: string; after: string; change: MutationSummary }> => {
      const before = await temp(`${label}-before`);
      await must(['backup', before, '--full']);
      const after = await temp(`${label}-after`);
      await cp(before, after, { recursive: true, verbatimSymlinks: true });
      const change = dataset.mutate(seed, { everyday: true });
      await must(['backup', after]);
      return { before, after, change };
    };
    const plain = await pair('plain', 5);
    await must(['encryption', 'on', PASSWORD]);
    const encrypted = await pair('encrypted', 6);
    return { plain, encrypted };
  } finally {
    await usbmuxd.close();
  }
})();

after(async () => {
  await made.catch(() => undefined);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const keyOf = (e: { domain: string; relativePath: string }) => `${e.domain}-${e.relativePath}`;
const sorted = (keys: Iterable<string>) => [...keys].sort();

/** The diff's files (directories aside) are exactly the phone's own list; new folders hold new files. */
function assertMatchesMutation(diff: ManifestDiff, change: MutationSummary): void {
  assert.deepEqual(sorted(diff.added.filter((e) => e.kind === 'file').map(keyOf)), sorted(change.added));
  assert.deepEqual(sorted(diff.removed.filter((e) => e.kind === 'file').map(keyOf)), sorted(change.removed));
  assert.deepEqual(sorted(diff.modified.map(keyOf)), sorted(change.modified));
  for (const dir of diff.added.filter((e) => e.kind === 'directory')) {
    assert.ok(change.added.some((k) => k.startsWith(`${keyOf(dir)}/`)), `added folder ${keyOf(dir)} holds an added file`);
  }
  for (const dir of diff.removed.filter((e) => e.kind === 'directory')) {
    assert.ok(change.removed.some((k) => k.startsWith(`${keyOf(dir)}/`)), `removed folder ${keyOf(dir)} held a removed file`);
  }
  for (const m of diff.modified) assert.ok(m.reasons.length > 0);
  assert.ok(diff.unchanged > 100, `${diff.unchanged} unchanged`);
  // The rename shows as its old name removed and its new name added, paired as a probable rename.
  assert.deepEqual(
    diff.renamed.map((r) => ({ from: keyOf(r.from), to: keyOf(r.to) })),
    change.renamed ?? [],
  );
  const tally = (of: 'added' | 'removed' | 'modified') => Object.values(diff.byCategory).reduce((n, t) => n + t[of], 0);
  assert.deepEqual([tally('added'), tally('removed'), tally('modified')], [change.added.length, change.removed.length, change.modified.length]);
  const sizeChange = Object.values(diff.byCategory).reduce((n, t) => n + t.addedBytes - t.removedBytes + t.modifiedDelta, 0);
  assert.equal(sizeChange, diff.newTotals.totalSize - diff.oldTotals.totalSize);
}

for (const variant of ['plain', 'encrypted'] as const) {
  test(`library diff (${variant}): files and what they mean match the phone's list of mutations`, async () => {
    const pair = (await made)[variant];
    const password = variant === 'encrypted' ? PASSWORD : undefined;
    const older = await openBackupFolder(pair.before, password);
    const newer = await openBackupFolder(pair.after, password);
    try {
      assert.equal(newer.encrypted, variant === 'encrypted');
      const diff = await diffBackups(older, newer);
      assertMatchesMutation(diff.files, pair.change);
      assert.equal(diff.files.byCategory.photos?.added, 1);
      assert.ok((diff.files.byCategory.apps?.modified ?? 0) >= 3);

      const { contents } = diff;
      assert.deepEqual(contents.problems, []);
      assert.deepEqual(contents.photos.added.map(keyOf), pair.change.photosAdded);
      assert.deepEqual(contents.photos.removed.map(keyOf), pair.change.photosRemoved);
      assert.deepEqual(
        contents.conversations.map((c) => ({ chat: c.identifier, count: c.after - c.before })),
        pair.change.messagesAdded,
      );
      // The phone's address book has the sender's number in its national form: the conversation is named.
      assert.match(contents.conversations[0]!.participants[0]!, /^\p{L}+ \S+$/u);
      assert.deepEqual(contents.contacts.added.map((c) => `${c.firstName} ${c.lastName}`), pair.change.contactsAdded);
      assert.deepEqual(contents.contacts.changed.map((c) => c.after.lastName), pair.change.contactsChanged);
      assert.equal(contents.contacts.removed.length, 0);
      assert.deepEqual(contents.apps, { installed: [], removed: [], updated: [] });
      assert.equal(contents.calls.added.length + contents.calls.removed.length, 0);
    } finally {
      older.close();
      newer.close();
    }
  });
}

test('library diff: a backup compared with itself has no changes', async () => {
  const { plain } = await made;
  const a = await openBackupFolder(plain.after);
  const b = await openBackupFolder(plain.after);
  try {
    const diff = await diffBackupFiles(a, b);
    assert.deepEqual([diff.added.length, diff.removed.length, diff.modified.length], [0, 0, 0]);
    assert.equal(diff.unchanged, diff.newTotals.rows);
  } finally {
    a.close();
    b.close();
  }
});

test('cli diff --json: added, removed, modified entries and a categories summary', async () => {
  const { plain } = await made;
  const r = await cli(['diff', plain.before, plain.after, '--json']);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as {
    added: { domain: string; relativePath: string; kind: string; size: number }[];
    removed: { domain: string; relativePath: string; kind: string; size: number }[];
    modified: { domain: string; relativePath: string; kind: string; oldSize: number; newSize: number }[];
    categories: Record<string, { added: number; removed: number; modified: number }>;
    renamed: { from: { domain: string; relativePath: string }; to: { domain: string; relativePath: string } }[];
  };
  assert.deepEqual(sorted(doc.added.filter((e) => e.kind === 'file').map(keyOf)), sorted(plain.change.added));
  assert.deepEqual(sorted(doc.removed.filter((e) => e.kind === 'file').map(keyOf)), sorted(plain.change.removed));
  assert.deepEqual(sorted(doc.modified.map(keyOf)), sorted(plain.change.modified));
  assert.deepEqual(Object.keys(doc.added[0]!).sort(), ['domain', 'kind', 'relativePath', 'size']);
  assert.deepEqual(Object.keys(doc.modified[0]!).sort(), ['domain', 'kind', 'newSize', 'oldSize', 'relativePath']);
  for (const m of doc.modified) assert.ok(typeof m.oldSize === 'number' && typeof m.newSize === 'number');
  assert.deepEqual(doc.renamed.map((r) => `${keyOf(r.from)} → ${keyOf(r.to)}`), plain.change.renamed!.map((r) => `${r.from} → ${r.to}`));
  assert.equal(doc.categories['photos']?.added, 1);
  assert.equal(doc.categories['messages']?.modified, 1);
  assert.equal(doc.categories['contacts']?.modified, 1);
});

test('cli diff: encrypted backups with --password; without it a clear refusal', async () => {
  const { encrypted } = await made;
  const ok = await cli(['diff', encrypted.before, encrypted.after, '--password', PASSWORD]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /^\d+ added, \d+ removed, 6 modified/);
  // "Domain-path" keys: the domain ends at the first "-" after an AppDomain…- prefix.
  const asPath = (k: string) => {
    const dash = k.indexOf('-', k.startsWith('AppDomain') ? k.indexOf('-') + 1 : 0);
    return `${k.slice(0, dash)}/${k.slice(dash + 1)}`;
  };
  for (const k of encrypted.change.modified) assert.ok(ok.out.includes(`~ ${asPath(k)}\t`), k);
  const locked = await cli(['diff', encrypted.before, encrypted.after]);
  assert.notEqual(locked.code, 0);
  assert.match(locked.err, /encrypted/i);
  const usage = await cli(['diff', encrypted.before]);
  assert.notEqual(usage.code, 0);
  assert.match(usage.err, /two backup folders/);
});
