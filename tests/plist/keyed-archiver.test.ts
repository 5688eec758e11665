import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { MVT_BACKUP } from '../helpers/fixtures.ts';
import {
  PlistReal,
  PlistUid,
  archive,
  decodePlist,
  encodeBinaryPlist,
  encodeXmlPlist,
  unarchive,
  type KeyedObject,
  type PlistDict,
  type PlistValue,
} from '../../src/plist/index.ts';

const MANIFEST = join(MVT_BACKUP, 'Manifest.db');

interface Row {
  relativePath: string;
  file: Uint8Array;
}

function manifestRows(): Row[] {
  const out = execFileSync('/usr/bin/sqlite3', ['-readonly', '-noheader', '-separator', ',', MANIFEST, 'select hex(relativePath), hex(file) from Files'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [path, file] = line.split(',');
      return { relativePath: Buffer.from(path!, 'hex').toString('utf8'), file: new Uint8Array(Buffer.from(file!, 'hex')) };
    });
}

/** Apple archives these MBFile fields, in this order, as referenced objects. */
const APPLE_FIELD_ORDER = ['RelativePath', 'Target', 'Digest', 'EncryptionKey', 'ExtendedAttributes'];
/** …and these as bare data objects rather than NSMutableData. */
const INLINE_DATA = ['Digest', 'ExtendedAttributes'];

test('every MBFile blob in the MVT Manifest.db unarchives, and re-archives to the same fields', () => {
  const rows = manifestRows();
  assert.ok(rows.length > 3000, `expected the fixture's 3721 rows, got ${rows.length}`);
  let withKey = 0;
  let withXattrs = 0;
  for (const row of rows) {
    const original = decodePlist(row.file);
    const file = unarchive(original) as KeyedObject;
    assert.equal(file.$class, 'MBFile');
    assert.equal(file['RelativePath'], row.relativePath);
    assert.equal(typeof file['Mode'], 'number');
    if (file['EncryptionKey'] !== undefined) {
      assert.ok(file['EncryptionKey'] instanceof Uint8Array);
      withKey++;
    }
    if (file['ExtendedAttributes'] !== undefined) {
      assert.ok(file['ExtendedAttributes'] instanceof Uint8Array);
      withXattrs++;
    }
    const rearchived = archive(file, { inlineDataFields: INLINE_DATA });
    assert.deepStrictEqual(unarchive(decodePlist(encodeBinaryPlist(rearchived))), file, row.relativePath);
  }
  assert.ok(withKey > 0 && withXattrs > 0, 'fixture covers EncryptionKey and ExtendedAttributes');
});

test('an MBFile built in Apple’s field order archives to exactly the layout of Apple’s blobs', () => {
  for (const row of manifestRows()) {
    const original = decodePlist(row.file) as PlistDict;
    const fields = unarchive(original) as PlistDict;
    const ordered: KeyedObject = { $class: 'MBFile' };
    for (const key of APPLE_FIELD_ORDER) if (fields[key] !== undefined) ordered[key] = fields[key];
    for (const key of Object.keys(fields)) if (!(key in ordered)) ordered[key] = fields[key];
    ordered.$class = 'MBFile';
    const rebuilt = decodePlist(encodeBinaryPlist(archive(ordered, { inlineDataFields: INLINE_DATA })));
    assert.deepStrictEqual(rebuilt, original, row.relativePath);
  }
});

test('Foundation classes unarchive to plain values; unknown classes keep their fields and $class', () => {
  const objects: PlistValue[] = [
    '$null',
    { $class: new PlistUid(2), 'NS.keys': [new PlistUid(3), new PlistUid(4), new PlistUid(5), new PlistUid(6), new PlistUid(7)], 'NS.objects': [new PlistUid(8), new PlistUid(9), new PlistUid(12), new PlistUid(14), new PlistUid(16)] },
    { $classname: 'NSMutableDictionary', $classes: ['NSMutableDictionary', 'NSDictionary', 'NSObject'] },
    'list',
    'blob',
    'when',
    'name',
    'thing',
    { $class: new PlistUid(10), 'NS.objects': [new PlistUid(11), new PlistUid(0), new PlistUid(11)] },
    { $class: new PlistUid(17), 'NS.data': new Uint8Array([9, 8, 7]) },
    { $classname: 'NSSet', $classes: ['NSSet', 'NSObject'] },
    'shared',
    { $class: new PlistUid(13), 'NS.time': new PlistReal(0.5) },
    { $classname: 'NSDate', $classes: ['NSDate', 'NSObject'] },
    { $class: new PlistUid(15), 'NS.string': 'Ω' },
    { $classname: 'NSMutableString', $classes: ['NSMutableString', 'NSString', 'NSObject'] },
    { $class: new PlistUid(18), count: 3, label: new PlistUid(11), missing: new PlistUid(0) },
    { $classname: 'NSData', $classes: ['NSData', 'NSObject'] },
    { $classname: 'Widget', $classes: ['Widget', 'NSObject'] },
  ];
  const top = { $version: 100000, $archiver: 'NSKeyedArchiver', $top: { root: new PlistUid(1) }, $objects: objects };
  const expected = {
    list: ['shared', 'shared'],
    blob: new Uint8Array([9, 8, 7]),
    when: new Date(Date.UTC(2001, 0, 1, 0, 0, 0, 500)),
    name: 'Ω',
    thing: { count: 3, label: 'shared', $class: 'Widget' },
  };
  for (const bytes of [encodeBinaryPlist(top), encodeXmlPlist(top)]) assert.deepStrictEqual(unarchive(decodePlist(bytes)), expected);
});

test('archive → unarchive is the identity for nested plain values and keyed objects', () => {
  const root: KeyedObject = {
    $class: 'MBFile',
    RelativePath: 'Library/Preferences/com.apple.x.plist',
    Size: 1234,
    Big: 2n ** 60n,
    Flag: true,
    Ratio: new PlistReal(2),
    EncryptionKey: new Uint8Array([1, 2, 3]),
    Modified: new Date('2024-02-03T04:05:06.789Z'),
    Tags: ['a', 'b', 'a'],
    Info: { k: 'v', nested: { deeper: [1, 'two'] } },
    Child: { $class: 'MBChild', $classes: ['MBChild', 'MBBase', 'NSObject'], name: 'c' },
    Absent: undefined,
  };
  const archived = archive(root);
  assert.equal(archived['$archiver'], 'NSKeyedArchiver');
  const objects = archived['$objects'] as PlistValue[];
  assert.equal(objects[0], '$null');
  assert.ok(objects.includes('a') && objects.filter((o) => o === 'a').length === 1, 'strings are stored once');
  const childClass = objects.find((o) => typeof o === 'object' && (o as PlistDict)['$classname'] === 'MBChild') as PlistDict;
  assert.deepStrictEqual(childClass['$classes'], ['MBChild', 'MBBase', 'NSObject']);
  const { Absent: _absent, ...present } = root;
  const expected = { ...present, Ratio: 2, Child: { name: 'c', $class: 'MBChild' } } as PlistDict;
  delete (expected as Record<string, unknown>)['$classes'];
  for (const bytes of [encodeBinaryPlist(archived), encodeXmlPlist(archived)]) {
    assert.deepStrictEqual(unarchive(decodePlist(bytes)), expected);
  }
  // A plain dictionary root becomes an NSDictionary.
  assert.deepStrictEqual(unarchive(decodePlist(encodeBinaryPlist(archive({ x: [1, 2], y: 'z' })))), { x: [1, 2], y: 'z' });
});
