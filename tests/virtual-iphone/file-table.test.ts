// The virtual iPhone keeps its files as columns (FileTable) and lists them as slot numbers (EntryList).
// A listing must say what a plain object-per-file model says, keep saying it after the data changes
// (an incremental backup compares against the rows it sent), and give back any value a restore brings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileTable, listTable } from '../../src/virtual-iphone/dataset/file-table.ts';
import { ProceduralContent, StaticContent } from '../../src/virtual-iphone/dataset/content.ts';
import { Dataset, datasetProfile, type DatasetEntry } from '../../src/virtual-iphone/dataset/dataset.ts';

function file(domain: string, relativePath: string, extra: Partial<DatasetEntry> = {}): DatasetEntry {
  const content = extra.content ?? new ProceduralContent(relativePath.length * 7919, 100 + relativePath.length);
  return { domain, relativePath, kind: 'file', size: content.size, mode: 0o100644, mtime: 1_709_251_200, protectionClass: 3, inode: 1000, content, ...extra };
}

test('a listing holds the files, links and their folders, sorted by domain and path as strings', () => {
  const table = new FileTable();
  const paths = ['b/x', 'a-b/y', 'a/x', 'a/y/z', 'a.txt', 'Grüße 📷.txt', 'a/\uE000', 'a/😀', 'z'];
  for (const p of paths) table.add(file('HomeDomain', p));
  table.add(file('AppDomain-com.example.notes', 'Documents/n.txt'));
  table.add({ ...file('HomeDomain', 'link'), kind: 'symlink', size: 0, content: null, target: '/var/mobile/x' });
  const listed = [...listTable(table, false)].map((e) => `${e.domain}|${e.relativePath}|${e.kind}`);
  const folders = ['', 'a', 'a/y', 'b', 'a-b'].map((p) => `HomeDomain|${p}|dir`).concat(['AppDomain-com.example.notes||dir', 'AppDomain-com.example.notes|Documents|dir']);
  const expected = [...paths.map((p) => `HomeDomain|${p}|file`), 'HomeDomain|link|symlink', 'AppDomain-com.example.notes|Documents/n.txt|file', ...folders];
  const byString = (x: string, y: string) => {
    const [dx, px] = x.split('|');
    const [dy, py] = y.split('|');
    return dx! < dy! ? -1 : dx! > dy! ? 1 : px! < py! ? -1 : px! > py! ? 1 : 0;
  };
  assert.deepEqual(listed, expected.sort(byString));
});

test('a listing taken before a change still reads what it listed; the same slot is the same entry', () => {
  const table = new FileTable();
  table.add(file('HomeDomain', 'kept.bin'));
  table.add(file('HomeDomain', 'changed.bin', { size: 10, content: new StaticContent(new Uint8Array(10)) }));
  table.add({ ...file('HomeDomain', 'gone'), kind: 'symlink', size: 0, content: null, target: '/t' });
  const before = listTable(table, false);
  const at = (path: string) => [...Array(before.length).keys()].find((i) => before.relativePath(i) === path)!;

  table.add(file('HomeDomain', 'changed.bin', { size: 20, mtime: 5, content: new StaticContent(new Uint8Array(20)) }));
  table.remove(table.find('HomeDomain', 'gone')!);
  const after = listTable(table, false);
  assert.equal(table.live, 2);
  assert.equal(before.size(at('changed.bin')), 10, 'the old listing still has the old size');
  assert.equal(before.at(at('gone')).target, '/t', 'and a removed link its target');
  const afterAt = (path: string) => [...Array(after.length).keys()].find((i) => after.relativePath(i) === path)!;
  assert.equal(after.size(afterAt('changed.bin')), 20);
  assert.equal(after.item(afterAt('kept.bin')), before.item(at('kept.bin')), 'unchanged: the same slot');
  assert.notEqual(after.item(afterAt('changed.bin')), before.item(at('changed.bin')), 'changed: a new slot');
  assert.equal(after.item(afterAt('')), before.item(at('')), 'a folder keeps its id');
  assert.equal(afterAt('gone'), undefined);
});

test('values a restore brings come back as they were, and a generated content stays generated', () => {
  const table = new FileTable();
  const odd = file('HomeDomain', 'odd', { mode: 2 ** 33 + 0o100644, protectionClass: 300, mtime: -86_400, inode: 2 ** 40, encryptedOnly: true });
  const maxKey = file('HomeDomain', 'max-key', { content: new ProceduralContent(0xffff_ffff, 77), size: 77 });
  table.add(odd);
  table.add(maxKey);
  assert.deepEqual(table.entry(table.find('HomeDomain', 'odd')!), odd);
  assert.deepEqual(table.entry(table.find('HomeDomain', 'max-key')!), maxKey);
  assert.equal(listTable(table, false).length, 2, 'an encrypted-only file is left out of an unencrypted listing (the root folder and max-key)');
});

test('a name is hashed once per entry and folder, however often a backup asks', () => {
  const table = new FileTable();
  table.add(file('HomeDomain', 'a/b.txt'));
  const list = listTable(table, false);
  const asked: string[] = [];
  const hash = (domain: string, path: string) => {
    asked.push(path);
    return (path.length.toString(16) + domain.length.toString(16)).padStart(40, '0');
  };
  for (let round = 0; round < 3; round++) for (let i = 0; i < list.length; i++) list.fileId(i, hash);
  assert.deepEqual(asked.sort(), ['', 'a', 'a/b.txt']);
  assert.equal(list.fileId(list.length - 1, hash), hash('HomeDomain', list.relativePath(list.length - 1)));
});

test("the dataset's listing matches its entries and survives a mutation", async () => {
  const dataset = await Dataset.create({ size: 'small', seed: 5 });
  const before = dataset.listing(false);
  const snapshot = [...before].map((e) => `${e.domain}-${e.relativePath}:${e.size}:${e.mtime}`);
  assert.equal(dataset.listing(false), before, 'kept until the data changes');
  dataset.mutate(3, { everyday: true });
  assert.notEqual(dataset.listing(false), before);
  assert.deepEqual([...before].map((e) => `${e.domain}-${e.relativePath}:${e.size}:${e.mtime}`), snapshot, 'the old listing reads as it did');
});

test('a generated phone names every file once (its files are added without a search for one already there)', async () => {
  const huge = { ...datasetProfile('huge'), apps: 4, photos: 300 };
  for (const options of [{ size: 'small' as const }, { size: 'medium' as const }, { profile: huge }]) {
    const dataset = await Dataset.create(options);
    const names = [...dataset.listing(true)].map((e) => `${e.domain}\u0000${e.relativePath}`);
    assert.equal(new Set(names).size, names.length, JSON.stringify(options).slice(0, 40));
    assert.ok(dataset.get('HomeDomain', 'Library/SMS/sms.db'), 'and each is found by its path');
  }
});
