import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, readlink, rm, truncate, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackupFolder } from '../../src/library/node/open.ts';
import { BackupReader, payloadPath } from '../../src/library/backup-reader.ts';
import { BackupLockedError, MissingBackupFileError } from '../../src/library/errors.ts';
import { WrongPasswordError } from '../../src/core/errors.ts';
import { decodePlist, isPlistDict } from '../../src/plist/index.ts';
import { readChats, readMessages, countMessages } from '../../src/library/categories/messages.ts';
import { readContacts } from '../../src/library/categories/contacts.ts';
import { contactToVCard } from '../../src/library/export/vcard.ts';
import { readNotes } from '../../src/library/categories/notes.ts';
import { readCalls } from '../../src/library/categories/calls.ts';
import { readSafariBookmarks, readSafariHistory } from '../../src/library/categories/safari.ts';
import { readPhotos, readVoiceMemos } from '../../src/library/categories/media.ts';
import { searchContent, snippetAround } from '../../src/library/content-search.ts';
import { readPhotoLibrary, readVoiceMemoLibrary } from '../../src/library/categories/media-details.ts';
import { readApps } from '../../src/library/categories/apps.ts';
import { describeContents } from '../../src/library/categories/overview.ts';
import { verifyBackup } from '../../src/library/export/verify.ts';
import { exportFinderCopy } from '../../src/library/export/exports.ts';
import { NodeFsTarget } from '../../src/library/node/fs-target.ts';
import { ZipSource } from '../../src/library/source/zip-source.ts';
import { locateBackup } from '../../src/library/source/locate.ts';
import type { TruthEntry } from '../../src/virtual-iphone/dataset/index.ts';
import { expectedCategories, truthChildren, type ExpectedCategories } from './interop-expectations.ts';
import { cli, makeBackups, type MadeBackup, type WriterBackups, type WriterName } from './interop-writers.ts';

/**
 * Issue 5's "done means": backups written by Lifeboat's own engine and by Debian's idevicebackup2
 * (an independent writer), plain and encrypted, all open, browse, show their categories and
 * extract exactly what the virtual iPhone holds.
 */

const WRITERS: Record<WriterName, Parameters<typeof makeBackups>[1]> = {
  lifeboat: { seed: 11, mutateSeed: 3, password: 'lifeboat pw ✓', deviceName: 'Ada’s iPhone', productType: 'iPhone15,2', productVersion: '17.5' },
  idevicebackup2: { seed: 12, mutateSeed: 4, password: 'sekret', deviceName: 'Grace’s iPhone 📱', productType: 'iPhone16,1', productVersion: '18.0' },
};

const writers = new Map<WriterName, WriterBackups>();
const expected = new Map<WriterName, ExpectedCategories>();
const scratch: string[] = [];

before(async () => {
  // Both writers at once: one runs in this process, the other is a child process.
  const made = await Promise.allSettled(
    (Object.keys(WRITERS) as WriterName[]).map(async (name) => {
      const w = await makeBackups(name, WRITERS[name]);
      writers.set(name, w);
      expected.set(name, await expectedCategories(w.dataset));
    }),
  );
  const failed = made.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
});

after(async () => {
  for (const w of writers.values()) {
    await w.usbmuxd.close();
    for (const dir of w.dirs) await rm(dir, { recursive: true, force: true });
  }
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

async function scratchDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `lifeboat-interop-${label}-`));
  scratch.push(dir);
  return dir;
}

/** zip argv[1] ← folder argv[2], stored under the prefix argv[3], deflated (an independent zip writer). */
const ZIP_SCRIPT = `
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for root, dirs, names in os.walk(sys.argv[2]):
        for n in names:
            full = os.path.join(root, n)
            z.write(full, sys.argv[3] + '/' + os.path.relpath(full, sys.argv[2]))
`;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const truthPath = (e: { domain: string; relativePath: string }): string => (e.relativePath === '' ? e.domain : `${e.domain}/${e.relativePath}`);
const files = (truth: readonly TruthEntry[]): TruthEntry[] => truth.filter((e) => e.kind === 'file');
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function get(name: WriterName): { w: WriterBackups; x: ExpectedCategories } {
  const w = writers.get(name);
  const x = expected.get(name);
  assert.ok(w && x, `the ${name} backups were not made`);
  return { w, x };
}

type Variant = 'plain' | 'encrypted';
const open = (w: WriterBackups, variant: Variant, backup: MadeBackup = w[variant]): Promise<BackupReader> =>
  openBackupFolder(backup.dir, variant === 'encrypted' ? w.password : undefined);

for (const name of Object.keys(WRITERS) as WriterName[]) {
  for (const variant of ['plain', 'encrypted'] as const) {
    test(`${name} ${variant}: summary, browsing and search match the device`, async (t) => {
      const { w } = get(name);
      t.diagnostic(`setup timings (ms): ${JSON.stringify(w.timings)}`);
      const { truth } = w[variant];
      const reader = await open(w, variant);
      try {
        const s = reader.summary();
        const root = w.iphone.values.root;
        assert.equal(s.deviceName, WRITERS[name].deviceName);
        assert.equal(s.productType, WRITERS[name].productType);
        assert.equal(s.productVersion, WRITERS[name].productVersion);
        assert.equal(s.buildVersion, root['BuildVersion']);
        assert.equal(s.serialNumber, root['SerialNumber']);
        assert.equal(s.udid, w.iphone.udid);
        assert.equal(s.encrypted, variant === 'encrypted');
        assert.equal(s.locked, false);
        assert.equal(s.state, 'complete');
        assert.equal(s.snapshotState, 'finished');
        assert.equal(s.isFullBackup, true);
        assert.deepEqual(s.problems, []);
        assert.ok(s.date && Math.abs(Date.parse(s.date) - Date.now()) < 3_600_000, `backup date ${s.date}`);
        assert.equal(s.fileCount, files(truth).length);
        assert.equal(s.totalSize, files(truth).reduce((n, e) => n + e.size, 0));

        // Every domain, with as many rows as the device has entries in it.
        const perDomain = new Map<string, number>();
        for (const e of truth) perDomain.set(e.domain, (perDomain.get(e.domain) ?? 0) + 1);
        assert.deepEqual(
          reader.manifest.domains().map((d) => [d.domain, d.count]).sort((a, b) => byName(String(a[0]), String(b[0]))),
          [...perDomain].sort((a, b) => byName(a[0], b[0])),
        );
        assert.equal(perDomain.has('KeychainDomain'), variant === 'encrypted');

        // Folder listings.
        const edge = `AppDomain-${w.dataset.apps[0]!.bundleId}`;
        for (const [domain, folder] of [
          ['CameraRollDomain', 'Media/DCIM/100APPLE'],
          ['HomeDomain', ''],
          ['HomeDomain', 'Library/SMS'],
          [edge, 'Documents'],
          [edge, 'Documents/日本語'],
        ] as const) {
          const listed = reader.manifest.list(domain, folder).map((e) => e.name).sort(byName);
          assert.deepEqual(listed, truthChildren(truth, domain, folder), `${domain}/${folder}`);
        }

        // Search: case-insensitive, non-ASCII names.
        const found = (q: string) => reader.manifest.search(q).map(truthPath);
        assert.ok(found('メモ').includes(`${edge}/Documents/日本語/メモ.txt`));
        assert.ok(found('GRÜßE 📷').includes(`${edge}/Documents/Grüße 📷.txt`));
        assert.deepEqual(
          found('img_0001.jpg').sort(byName),
          truth.filter((e) => e.relativePath.toLowerCase().includes('img_0001.jpg')).map(truthPath).sort(byName),
        );

        // Per-file metadata: sizes, modes, times, link targets, and which files carry keys. (The
        // plain backup predates dataset.mutate(), so files it changed are compared by truth only.)
        const changed = new Set(variant === 'plain' ? [...w.incremental.change.modified, ...w.incremental.change.removed] : []);
        for (const e of truth.filter((x) => x.domain === edge)) {
          const entry = reader.manifest.find(e.domain, e.relativePath);
          assert.ok(entry, truthPath(e));
          const md = reader.metadata(entry.fileID)!;
          assert.equal(md.kind, e.kind === 'dir' ? 'directory' : e.kind, truthPath(e));
          if (e.kind === 'file') {
            assert.equal(md.size, e.size, truthPath(e));
            assert.equal(md.encrypted, variant === 'encrypted', truthPath(e));
          }
          if (e.kind === 'symlink') assert.equal(md.symlinkTarget, e.target);
          const device = w.dataset.get(e.domain, e.relativePath);
          if (device && !changed.has(`${e.domain}-${e.relativePath}`)) {
            assert.equal(md.mode, device.mode, truthPath(e));
            assert.equal(md.lastModified, new Date(device.mtime * 1000).toISOString(), truthPath(e));
            assert.equal(md.protectionClass, device.protectionClass, truthPath(e));
          }
        }
      } finally {
        reader.close();
      }
    });

    test(`${name} ${variant}: every category matches what the device holds`, async () => {
      const { w, x } = get(name);
      const { truth } = w[variant];
      const truthSha = new Map(files(truth).map((e) => [truthPath(e), e.sha256]));
      const reader = await open(w, variant);
      try {
        // Messages: conversations, texts in order, attachments that resolve to their bytes.
        const chats = await readChats(reader);
        assert.deepEqual(chats.map((c) => c.identifier), x.chats.map((c) => c.identifier));
        assert.equal(await countMessages(reader), x.messageCount);
        let attachments = 0;
        for (const [i, chat] of chats.entries()) {
          const want = x.chats[i]!;
          assert.equal(chat.service, want.service);
          assert.deepEqual(chat.participants, [want.identifier]);
          assert.equal(chat.messageCount, want.texts.length);
          const messages = await readMessages(reader, chat.id);
          assert.deepEqual(messages.map((m) => m.text), want.texts, chat.identifier);
          const got = messages.flatMap((m) => m.attachments);
          assert.equal(got.length, want.attachments.length);
          for (const [j, a] of got.entries()) {
            assert.ok(a.fileID, `attachment ${want.attachments[j]} resolves to a backup file`);
            const path = `HomeDomain/${want.attachments[j]!.slice(2)}`;
            assert.equal(sha256(await reader.readFile(a.fileID)), truthSha.get(path), path);
            // Photos, and hostile.ts's SVG and HTML page beside the markup message.
            assert.equal(a.mimeType, path.endsWith('.jpeg') ? 'image/jpeg' : path.endsWith('.svg') ? 'image/svg+xml' : 'text/html', path);
            attachments++;
          }
        }
        assert.ok(attachments > 0, 'the dataset has message attachments');

        const contacts = await readContacts(reader);
        assert.deepEqual(
          contacts.map((c) => ({
            first: c.firstName,
            last: c.lastName,
            organization: c.organization,
            phone: c.phones[0]?.value,
            email: c.emails[0]?.value,
            addresses: c.addresses.map((a) => [a.label, a.street, a.city, a.state, a.postalCode, a.country, a.countryCode].map((v) => v ?? '').join('|')),
          })),
          x.contacts,
        );
        assert.ok(x.contacts.some((c) => c.addresses.length > 1), 'the dataset has contacts with several addresses');
        // Each address is one ADR line of that contact's vCard, its parts escaped so none spills into the next.
        for (const c of contacts.filter((c) => c.addresses.length)) {
          const adr = contactToVCard(c).replace(/\r\n[ \t]/g, '').split('\r\n').filter((line) => /^(item\d+\.)?ADR[;:]/.test(line));
          assert.equal(adr.length, c.addresses.length);
          for (const [i, line] of adr.entries()) {
            const parts = line.slice(line.indexOf(':') + 1).split(/(?<!\\);/).map((p) => p.replace(/\\n/g, '\n').replace(/\\([,;\\])/g, '$1'));
            const a = c.addresses[i]!;
            assert.deepEqual(parts, ['', '', a.street, a.city, a.state ?? '', a.postalCode, a.country], line);
          }
        }
        assert.deepEqual(new Set(contacts.flatMap((c) => [...c.phones, ...c.emails].map((v) => v.label))), new Set(['Mobile', 'Home']));

        // Search inside the data finds what the device's own databases hold.
        const needle = 'photos';
        const found = await searchContent(reader, needle, 100_000);
        const withNeedle = x.chats.flatMap((c) => c.texts).filter((t) => t.toLowerCase().includes(needle));
        assert.ok(withNeedle.length > 0);
        assert.equal(found.messages.length, withNeedle.length);
        assert.ok(found.messages.every((m) => m.snippet.toLowerCase().includes(needle)));
        // Messages whose text lives only in attributedBody show (above) and are found, by a word of theirs.
        const archivedOnly = x.chats.flatMap((c) => c.archivedOnly);
        assert.ok(archivedOnly.length > 0 && archivedOnly.some((t) => new TextEncoder().encode(t).length > 127), 'short and long attributedBody-only texts');
        for (const t of new Set(archivedOnly)) {
          // The longest ASCII word, upper-cased: the search is case-insensitive for ASCII, as LIKE is.
          const word = t.split(' ').filter((w) => /^[!-~]+$/.test(w)).sort((a, b) => b.length - a.length)[0]!.toUpperCase();
          const hits = (await searchContent(reader, word, 100_000)).messages;
          const expected = x.chats.flatMap((c) => c.texts).filter((m) => m.toLowerCase().includes(word.toLowerCase()));
          assert.equal(hits.length, expected.length, word);
          assert.ok(hits.some((h) => h.snippet === snippetAround(t, word)), `${word} finds “${t}”`);
        }
        const surname = x.contacts[0]!.last;
        const people = (await searchContent(reader, surname, 100_000)).contacts;
        const expectedPeople = x.contacts.filter((c) => [c.first, c.last, c.organization, c.phone, c.email].some((v) => v?.toLowerCase().includes(surname.toLowerCase())));
        assert.equal(people.length, expectedPeople.length, surname);
        assert.ok(people.every((p) => p.name.includes(surname) || p.matched !== undefined));

        const notes = await readNotes(reader);
        assert.deepEqual(notes.map((n) => n.title), x.notes.map((n) => n.title));
        // iOS keeps a note's text as gzip(NoteStoreProto) in ZDATA, and so does the virtual iPhone.
        assert.deepEqual(notes.map((n) => n.body), x.notes.map((n) => n.body));
        for (const note of notes) assert.ok(note.body.startsWith(`${note.title}\n`), note.body);

        const calls = await readCalls(reader);
        assert.deepEqual(
          calls.map((c) => ({ address: c.address, duration: c.durationSeconds, originated: c.direction === 'outgoing', answered: c.answered })),
          x.calls,
        );

        const history = await readSafariHistory(reader);
        assert.equal(history.length, x.historyVisits);
        const visits = new Map<string, number>();
        for (const v of history) visits.set(v.url, (visits.get(v.url) ?? 0) + 1);
        assert.deepEqual([...visits].sort(), [...x.historyUrls].sort());
        const bookmarks = (await readSafariBookmarks(reader)).filter((b) => !b.isFolder);
        assert.deepEqual(bookmarks.map((b) => ({ title: b.title, url: b.url })), x.bookmarks);

        // Photos and voice memos are the device's files themselves.
        const photos = await readPhotos(reader);
        const dcim = files(truth).filter((e) => e.domain === 'CameraRollDomain' && e.relativePath.startsWith('Media/DCIM/'));
        assert.deepEqual(photos.map((p) => p.relativePath).sort(byName), dcim.map((e) => e.relativePath).sort(byName));
        for (const p of photos) {
          const e = dcim.find((d) => d.relativePath === p.relativePath)!;
          assert.equal(p.size, e.size);
          if (variant === 'encrypted') assert.equal(p.modified, new Date(w.dataset.get(p.domain, p.relativePath)!.mtime * 1000).toISOString());
          assert.equal(p.mimeType, p.name.endsWith('.MOV') ? 'video/quicktime' : 'image/jpeg');
        }
        const firstPhoto = photos.find((p) => p.mimeType === 'image/jpeg')!;
        const jpeg = await reader.readFile(firstPhoto.fileID);
        assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
        assert.equal(sha256(jpeg), truthSha.get(truthPath(firstPhoto)));

        const memos = await readVoiceMemos(reader);
        const recordings = files(truth).filter((e) => e.domain === 'MediaDomain' && e.relativePath.endsWith('.m4a'));
        assert.ok(recordings.length > 0);
        assert.deepEqual(memos.map((m) => m.relativePath).sort(byName), recordings.map((e) => e.relativePath).sort(byName));
        assert.ok(memos.every((m) => m.mimeType === 'audio/mp4'));

        // What Photos.sqlite and CloudRecordings.db say about those files.
        const APPLE_EPOCH = 978307200;
        const appleIso = (s: number) => new Date((s + APPLE_EPOCH) * 1000).toISOString();
        const library = await readPhotoLibrary(reader);
        assert.equal(library.length, photos.length);
        let favorites = 0;
        let hidden = 0;
        for (const p of library) {
          const facts = x.photoFacts.get(p.relativePath);
          assert.deepEqual([p.created, p.favorite, p.hidden], facts ? [appleIso(facts.created), facts.favorite, facts.hidden] : [undefined, false, false], p.relativePath);
          favorites += p.favorite ? 1 : 0;
          hidden += p.hidden ? 1 : 0;
        }
        assert.ok(favorites > 0 && hidden > 0 && library.some((p) => p.created === undefined), 'favourites, hidden and unlisted (videos) are all there');
        const memoLibrary = await readVoiceMemoLibrary(reader);
        assert.equal(memoLibrary.length, memos.length);
        for (const m of memoLibrary) {
          const facts = x.recordingFacts.get(m.name);
          assert.ok(facts, m.name);
          assert.deepEqual([m.title, m.recorded, m.durationSeconds], [facts.title, appleIso(facts.date), facts.duration], m.name);
        }

        // Apps: versions from Manifest.plist, data counted from their own, group and plugin containers.
        const apps = readApps(reader);
        assert.deepEqual(apps.map((a) => ({ bundleId: a.bundleId, version: a.version })), [...x.apps].sort((a, b) => byName(a.bundleId, b.bundleId)));
        let attributedGroups = 0;
        for (const app of apps) {
          const ofApp = (d: string) => d === `AppDomain-${app.bundleId}` || d === `AppDomainGroup-group.${app.bundleId}` || d.startsWith(`AppDomainPlugin-${app.bundleId}.`);
          const container = files(truth).filter((e) => ofApp(e.domain));
          assert.equal(app.fileCount, container.length, app.bundleId);
          assert.equal(app.dataSize, container.reduce((n, e) => n + e.size, 0), app.bundleId);
          assert.deepEqual(app.containers.map((c) => c.domain).sort(), [...new Set(container.map((e) => e.domain))].sort(), app.bundleId);
          attributedGroups += app.containers.filter((c) => c.kind !== 'app').length;
        }
        assert.ok(attributedGroups > 0, 'the dataset has group and plugin containers to attribute');

        // The overview agrees, and knows what only an encrypted backup carries.
        const contents = await describeContents(reader);
        const counts = Object.fromEntries(contents.categories.map((c) => [c.id, c.count]));
        assert.deepEqual(contents.categories.filter((c) => c.error !== undefined), []);
        assert.deepEqual(counts, {
          messages: x.messageCount,
          contacts: x.contacts.length,
          photos: dcim.length,
          notes: x.notes.length,
          calls: x.calls.length,
          'safari-history': x.historyVisits,
          'safari-bookmarks': x.bookmarks.length,
          'voice-memos': recordings.length,
          apps: x.apps.length,
        });
        assert.deepEqual(
          contents.encryptedOnly.map((e) => e.present),
          contents.encryptedOnly.map(() => variant === 'encrypted'),
        );
        if (variant === 'encrypted') {
          const keychain = decodePlist((await reader.readByPath('KeychainDomain', 'keychain-backup.plist'))!);
          assert.ok(isPlistDict(keychain) && Array.isArray(keychain['genp']) && keychain['genp'].length === 2);
        } else {
          assert.equal(reader.manifest.find('KeychainDomain', 'keychain-backup.plist'), undefined);
        }
      } finally {
        reader.close();
      }
    });

    test(`${name} ${variant}: CLI extract writes exactly the device's files; ls lists every path`, async () => {
      const { w } = get(name);
      const { truth, dir } = w[variant];
      const out = await scratchDir('extract');
      const pw = variant === 'encrypted' ? ['--password', w.password] : [];
      const extracted = await cli(['extract', dir, out, ...pw]);
      assert.equal(extracted.code, 0, extracted.err);
      assert.equal(extracted.err, '');
      const fileCount = files(truth).length;
      assert.match(extracted.out, new RegExp(`^Extracted ${fileCount} files \\(${files(truth).reduce((n, e) => n + e.size, 0)} bytes\\)`));

      // Walk what was written: the same set of paths, kinds, bytes and link targets as the truth.
      const written = new Map<string, 'file' | 'dir' | 'symlink'>();
      const walk = async (rel: string): Promise<void> => {
        for (const d of await readdir(join(out, rel), { withFileTypes: true })) {
          const path = rel === '' ? d.name : `${rel}/${d.name}`;
          if (d.isDirectory()) {
            written.set(path, 'dir');
            await walk(path);
          } else written.set(path, d.isSymbolicLink() ? 'symlink' : 'file');
        }
      };
      await walk('');
      assert.deepEqual([...written.keys()].sort(byName), truth.map(truthPath).sort(byName));
      for (const e of truth) {
        const path = truthPath(e);
        assert.equal(written.get(path), e.kind, path);
        if (e.kind === 'file') assert.equal(sha256(await readFile(join(out, path))), e.sha256, path);
        if (e.kind === 'symlink') assert.equal(await readlink(join(out, path)), e.target, path);
      }

      const listed = await cli(['ls', dir, ...pw]);
      assert.equal(listed.code, 0, listed.err);
      const lines = listed.out.trimEnd().split('\n');
      const suffix = { dir: '/', symlink: ' ->', file: '' } as const;
      assert.deepEqual(
        lines.sort(byName),
        truth.map((e) => `${truthPath(e)}${suffix[e.kind]}\t${e.kind === 'file' ? e.size : 0}`).sort(byName),
      );
    });

    test(`${name} ${variant}: verify is clean, and catches a deleted and a truncated payload`, async () => {
      const { w } = get(name);
      const made = w[variant];
      const reader = await open(w, variant);
      try {
        const report = await verifyBackup(reader);
        assert.equal(report.checked, files(made.truth).length);
        assert.deepEqual(report.problems, []);
      } finally {
        reader.close();
      }

      const copy = await scratchDir('damaged');
      await cp(made.backupDir, copy, { recursive: true });
      const pw = variant === 'encrypted' ? ['--password', w.password] : [];
      const locate = async (relativePath: string) => {
        const r = await openBackupFolder(copy, variant === 'encrypted' ? w.password : undefined);
        try {
          return join(copy, payloadPath(r.manifest.find('HomeDomain', relativePath)!.fileID));
        } finally {
          r.close();
        }
      };
      await unlink(await locate('Library/SMS/sms.db'));
      // extract carries on past a lost payload and names it.
      const out = await scratchDir('damaged-extract');
      const extracted = await cli(['extract', copy, out, ...pw]);
      assert.equal(extracted.code, 0, extracted.err);
      assert.equal(extracted.err, 'missing from the backup: HomeDomain/Library/SMS/sms.db\n');
      assert.match(extracted.out, new RegExp(`^Extracted ${files(made.truth).length - 1} files`));

      await truncate(await locate('Library/AddressBook/AddressBook.sqlitedb'), 100);
      const damaged = await openBackupFolder(copy, variant === 'encrypted' ? w.password : undefined);
      try {
        const report = await verifyBackup(damaged);
        assert.equal(report.checked, files(made.truth).length);
        assert.deepEqual(
          report.problems.map((p) => [p.relativePath, p.problem, p.actualSize]).sort(),
          [
            ['Library/AddressBook/AddressBook.sqlitedb', 'size', 100],
            ['Library/SMS/sms.db', 'missing', undefined],
          ],
        );
        // Reading the lost database names it; the overview marks only the two damaged categories
        // and everything else still reads.
        await assert.rejects(readChats(damaged), (e: Error) => e instanceof MissingBackupFileError && /sms\.db/.test(e.message));
        const contents = await describeContents(damaged);
        assert.deepEqual(contents.categories.filter((c) => c.error !== undefined).map((c) => c.id), ['messages', 'contacts']);
        assert.ok(contents.categories.find((c) => c.id === 'calls')!.count > 0);
      } finally {
        damaged.close();
      }
    });
  }

  test(`${name}: an incremental backup after the phone changed shows the change`, async () => {
    const { w } = get(name);
    const { truth, before: previous, change } = w.incremental;
    assert.ok(change.modified.length > 0 && change.added.length > 0 && change.removed.length > 0);
    const reader = await open(w, 'plain', w.incremental);
    try {
      const s = reader.summary();
      assert.equal(s.state, 'complete');
      assert.equal(s.isFullBackup, false);
      assert.equal(s.fileCount, files(truth).length);
      assert.equal(s.totalSize, files(truth).reduce((n, e) => n + e.size, 0));
      assert.equal([...reader.manifest.rows()].length, truth.length);
      const sha = async (e: { domain: string; relativePath: string }) => {
        const bytes = await reader.readByPath(e.domain, e.relativePath);
        return bytes && sha256(bytes);
      };
      for (const e of files(truth)) assert.equal(await sha(e), e.sha256, truthPath(e));
      const split = (key: string) => {
        const dash = key.indexOf('-', 'AppDomain-'.length);
        return { domain: key.slice(0, dash), relativePath: key.slice(dash + 1) };
      };
      for (const key of change.removed) assert.equal(reader.manifest.find(split(key).domain, split(key).relativePath), undefined, key);
      for (const key of change.modified) {
        const old = previous.find((e) => e.domain === split(key).domain && e.relativePath === split(key).relativePath)!;
        assert.notEqual(await sha(split(key)), old.sha256, key);
      }
      for (const key of change.added) assert.ok(reader.manifest.find(split(key).domain, split(key).relativePath), key);
      const newFolder = change.added[0]!;
      const { domain, relativePath } = split(newFolder);
      const folder = relativePath.slice(0, relativePath.lastIndexOf('/'));
      assert.deepEqual(reader.manifest.list(domain, folder).map((e) => e.name).sort(byName), truthChildren(truth, domain, folder));
    } finally {
      reader.close();
    }
    // The plain full backup made before the change is untouched.
    const original = await open(w, 'plain');
    try {
      assert.equal(original.summary().fileCount, files(previous).length);
    } finally {
      original.close();
    }
  });

  test(`${name} encrypted: imported from a zip (Python's zipfile), every file reads back; its Finder copy verifies`, async () => {
    const { w } = get(name);
    const { truth, backupDir } = w.encrypted;
    // A MobileSync "Backup" folder zipped elsewhere: Backup/<UDID>/… with deflated entries.
    const zipDir = await scratchDir('zip');
    const zipPath = join(zipDir, 'backup.zip');
    const made = spawnSync('python3', ['-c', ZIP_SCRIPT, zipPath, backupDir, `Backup/${w.iphone.udid}`]);
    assert.equal(made.status, 0, String(made.stderr));
    const zip = await ZipSource.open(await openAsBlob(zipPath), 'backup.zip');
    const located = await locateBackup(zip);
    assert.equal(located.path, `Backup/${w.iphone.udid}`);
    const fromZip = await BackupReader.open(located.source);
    try {
      assert.equal(fromZip.locked, true);
      await fromZip.unlock(w.password);
      assert.equal(fromZip.summary().deviceName, w.iphone.values.root['DeviceName']);
      assert.equal(fromZip.summary().fileCount, files(truth).length);
      for (const e of files(truth)) assert.equal(sha256((await fromZip.readByPath(e.domain, e.relativePath))!), e.sha256, `zip: ${truthPath(e)}`);
      for (const e of truth.filter((x) => x.kind === 'symlink')) {
        assert.equal(fromZip.metadata(fromZip.manifest.find(e.domain, e.relativePath)!.fileID)!.symlinkTarget, e.target, `zip: ${truthPath(e)}`);
      }

      // A Finder copy written from the zip is the same backup again, still encrypted.
      const copyDir = await scratchDir('finder-copy');
      await exportFinderCopy(fromZip, new NodeFsTarget(copyDir));
      for (const name of ['Manifest.db', 'Manifest.plist', 'Info.plist', 'Status.plist']) {
        assert.deepEqual(await readFile(join(copyDir, name)), await readFile(join(backupDir, name)), name);
      }
      const copy = await openBackupFolder(copyDir, w.password);
      try {
        assert.deepEqual((await verifyBackup(copy)).problems, []);
        for (const e of files(truth).filter((x) => x.domain === 'KeychainDomain' || x.relativePath.endsWith('.JPG'))) {
          assert.equal(sha256((await copy.readByPath(e.domain, e.relativePath))!), e.sha256, `finder copy: ${truthPath(e)}`);
        }
      } finally {
        copy.close();
      }
    } finally {
      fromZip.close();
    }
  });

  test(`${name} encrypted: stays locked until the right password`, async () => {
    const { w } = get(name);
    const reader = await openBackupFolder(w.encrypted.dir);
    try {
      const s = reader.summary();
      assert.equal(s.encrypted, true);
      assert.equal(s.locked, true);
      assert.equal(s.fileCount, undefined);
      assert.equal(s.deviceName, w.iphone.values.root['DeviceName']);
      assert.throws(() => reader.manifest, BackupLockedError);
      await assert.rejects(reader.unlock(`${w.password}!`), WrongPasswordError);
      assert.equal(reader.locked, true);
      await reader.unlock(w.password);
      assert.equal(reader.locked, false);
      assert.equal(reader.summary().fileCount, files(w.encrypted.truth).length);
    } finally {
      reader.close();
    }
    const noPassword = await cli(['ls', w.encrypted.dir]);
    assert.equal(noPassword.code, 1);
    assert.match(noPassword.err, /encrypted/);
    const wrong = await cli(['extract', w.encrypted.dir, await scratchDir('wrong'), '--password', 'nope']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /password/i);
  });
}
