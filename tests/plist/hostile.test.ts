import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlistError, decodePlist, encodeBinaryPlist, encodeXmlPlist, unarchive, PlistUid } from '../../src/plist/index.ts';
import { TreeGenerator, seededRandom } from './plist-generators.ts';

/** Generous: catches hangs and huge allocations without being a benchmark. */
const FAIL_FAST_MS = 1000;

function assertRejects(bytes: Uint8Array, label: string, pattern?: RegExp): void {
  const start = performance.now();
  let caught: unknown;
  try {
    decodePlist(bytes);
  } catch (error) {
    caught = error;
  }
  const elapsed = performance.now() - start;
  assert.ok(caught instanceof PlistError, `${label}: expected PlistError, got ${caught === undefined ? 'success' : String(caught)}`);
  if (pattern) assert.match(caught.message, pattern, label);
  assert.ok(elapsed < FAIL_FAST_MS, `${label}: took ${elapsed.toFixed(1)} ms`);
}

interface CraftOptions {
  refSize?: number;
  offsetSize?: number;
  top?: bigint;
  count?: bigint;
  tableStart?: bigint;
  offsets?: number[];
}

/** Assembles a bplist00 from raw object bytes, letting a test lie in any trailer field. */
function craft(objects: number[][], options: CraftOptions = {}): Uint8Array {
  const offsetSize = options.offsetSize ?? 4;
  const body: number[] = [0x62, 0x70, 0x6c, 0x69, 0x73, 0x74, 0x30, 0x30];
  const offsets: number[] = [];
  for (const o of objects) {
    offsets.push(body.length);
    body.push(...o);
  }
  const tableStart = body.length;
  for (const off of options.offsets ?? offsets) {
    for (let i = offsetSize - 1; i >= 0; i--) body.push(Math.floor(off / 256 ** i) % 256);
  }
  const out = new Uint8Array(body.length + 32);
  out.set(body);
  const t = body.length;
  out[t + 6] = offsetSize;
  out[t + 7] = options.refSize ?? 1;
  const view = new DataView(out.buffer);
  view.setBigUint64(t + 8, options.count ?? BigInt(objects.length));
  view.setBigUint64(t + 16, options.top ?? 0n);
  view.setBigUint64(t + 24, options.tableStart ?? BigInt(tableStart));
  return out;
}

test('the craft helper builds valid documents (sanity for the cases below)', () => {
  assert.deepStrictEqual(decodePlist(craft([[0xa2, 1, 2], [0x10, 7], [0x51, 0x61]])), [7, 'a']);
});

test('binary: every truncation of a valid document is a PlistError', () => {
  const gen = new TreeGenerator(9, { uids: true, msDates: true });
  const bytes = encodeBinaryPlist(gen.document());
  for (let n = 0; n < bytes.length; n++) assertRejects(bytes.subarray(0, n), `prefix ${n}/${bytes.length}`);
});

test('binary: trailer fields out of range', () => {
  const objects = [[0xa1, 1], [0x10, 1]];
  assertRejects(craft(objects, { tableStart: 1n << 62n }), 'table start beyond file', /trailer/);
  assertRejects(craft(objects, { tableStart: 2n }), 'table start inside header', /trailer/);
  assertRejects(craft(objects, { count: 1n << 60n }), 'huge object count', /offset table/);
  assertRejects(craft(objects, { count: 0n }), 'zero objects');
  assertRejects(craft(objects, { top: 2n }), 'top object out of range', /top object/);
  assertRejects(craft(objects, { top: 1n << 63n }), 'top object huge');
  assertRejects(craft(objects, { offsetSize: 0 }), 'offset size 0');
  assertRejects(craft(objects, { offsetSize: 9 }), 'offset size 9');
  assertRejects(craft(objects, { refSize: 0 }), 'ref size 0');
  assertRejects(craft(objects, { offsets: [8, 0xffffff] }), 'object offset past the table', /out-of-range offset/);
  assertRejects(craft(objects, { offsets: [8, 3] }), 'object offset inside the header', /out-of-range offset/);
  assertRejects(craft([[0xa1, 5], [0x10, 1]]), 'object reference out of range', /reference 5/);
});

test('binary: reference cycles are rejected, shared references are not', () => {
  assertRejects(craft([[0xa1, 0]]), 'array containing itself', /cycle/);
  assertRejects(craft([[0xa1, 1], [0xd1, 2, 0], [0x51, 0x6b]]), 'dict value pointing back at the root', /cycle/);
  assert.deepStrictEqual(decodePlist(craft([[0xa2, 1, 1], [0x10, 3]])), [3, 3]);
});

test('binary: a DAG of shared references (billion laughs) decodes without exponential blow-up', () => {
  // Object i is an array [i+1, i+1]; expanding it naively would be 2^60 leaves.
  const objects: number[][] = [];
  for (let i = 0; i < 60; i++) objects.push([0xa2, i + 1, i + 1]);
  objects.push([0x10, 1]);
  const start = performance.now();
  const decoded = decodePlist(craft(objects));
  assert.ok(Array.isArray(decoded));
  assert.ok(performance.now() - start < FAIL_FAST_MS);
});

test('binary: huge declared lengths fail before allocating', () => {
  const huge = [0x13, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  assertRejects(craft([[0x4f, ...huge]]), 'data of 2^63 bytes');
  assertRejects(craft([[0x5f, 0x12, 0xff, 0xff, 0xff, 0xff]]), 'ASCII string of 4 GiB', /past the end/);
  assertRejects(craft([[0x6f, 0x12, 0x40, 0, 0, 0]]), 'UTF-16 string of 1 G units', /past the end/);
  assertRejects(craft([[0xaf, 0x12, 0x7f, 0xff, 0xff, 0xff]]), 'array of 2^31 refs', /past the end/);
  assertRejects(craft([[0xdf, 0x12, 0x7f, 0xff, 0xff, 0xff]]), 'dict of 2^31 entries', /past the end/);
  assertRejects(craft([[0x4f, 0x14, 0, 0]]), 'length marker with 16-byte int');
  assertRejects(craft([[0x4f, 0x51, 0]]), 'length marker that is not an int');
});

test('binary: unsupported or malformed objects', () => {
  assertRejects(craft([[0x00]]), 'null object');
  assertRejects(craft([[0x15, 0, 0]]), '32-byte int');
  assertRejects(craft([[0x21, 0, 0]]), '2-byte real');
  assertRejects(craft([[0x34]]), 'bad date marker');
  assertRejects(craft([[0xe0]]), 'reserved marker 0xe0');
  assertRejects(craft([[0xd1, 1, 2], [0x10, 1], [0x10, 2]]), 'dict key that is an integer', /key is not a string/);
  assertRejects(craft([[0xd1, 1, 2], [0xa0], [0x10, 2]]), 'dict key that is an array', /key is not a string/);
  assertRejects(new TextEncoder().encode('bplist99xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'), 'unknown version');
});

test('binary: 10,000-deep nesting is a PlistError, not a stack overflow', () => {
  const objects: number[][] = [];
  const depth = 10000;
  for (let i = 0; i < depth; i++) objects.push([0xa1, (i + 1) >> 8, (i + 1) & 255]);
  objects.push([0x09]);
  assertRejects(craft(objects, { refSize: 2 }), '10k nested arrays', /nesting/);
});

test('XML: 10,000-deep nesting is a PlistError, not a stack overflow', () => {
  const xml = '<plist>' + '<array>'.repeat(10000) + '</array>'.repeat(10000) + '</plist>';
  assertRejects(new TextEncoder().encode(xml), 'nested arrays', /nesting/);
  const dicts = '<plist>' + '<dict><key>k</key>'.repeat(10000) + '<true/>' + '</dict>'.repeat(10000) + '</plist>';
  assertRejects(new TextEncoder().encode(dicts), 'nested dicts', /nesting/);
});

test('encoders refuse 10,000-deep values instead of overflowing the stack', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 10000; i++) deep = [deep];
  assert.throws(() => encodeBinaryPlist(deep as never), PlistError);
  assert.throws(() => encodeXmlPlist(deep as never), PlistError);
});

test('XML: malformed documents are PlistErrors', () => {
  const cases: [string, string][] = [
    ['', 'empty'],
    ['   \n ', 'only whitespace'],
    ['hello', 'not XML'],
    ['<plist><dict>', 'unclosed dict'],
    ['<plist><array><string>x</array></plist>', 'mismatched close'],
    ['<plist><string>x', 'unterminated string'],
    ['<plist><foo/></plist>', 'unknown element'],
    ['<plist><integer>12a</integer></plist>', 'bad integer'],
    ['<plist><integer></integer></plist>', 'empty integer'],
    ['<plist><real>1.2.3</real></plist>', 'bad real'],
    ['<plist><date>yesterday</date></plist>', 'bad date'],
    ['<plist><data>@@@@</data></plist>', 'bad base64'],
    ['<plist><data>QQ==QQ==</data></plist>', 'data after padding'],
    ['<plist><string>&bogus;</string></plist>', 'unknown entity'],
    ['<plist><string>a & b</string></plist>', 'bare ampersand'],
    ['<plist><string>&#x110000;</string></plist>', 'code point out of range'],
    ['<plist><dict><string>k</string><true/></dict></plist>', 'string where a key belongs'],
    ['<plist><dict><integer>1</integer><true/></dict></plist>', 'integer where a key belongs'],
    ['<plist><dict><key>k</key></dict></plist>', 'key without value'],
    ['<plist><key>k</key></plist>', 'key outside dict'],
    ['<plist><true/><true/></plist>', 'two root values'],
    ['<plist><true/></plist>trailing', 'text after the document'],
    ['<plist/>', 'empty plist'],
    ['<!-- never closed', 'unterminated comment'],
    ['<plist><string><![CDATA[x</string></plist>', 'unterminated CDATA'],
    ['<plist><array', 'unterminated tag'],
    ['</plist>', 'closing tag first'],
  ];
  for (const [xml, label] of cases) assertRejects(new TextEncoder().encode(xml), label);
});

test('random byte corruption never escapes as anything but a PlistError', () => {
  const rand = seededRandom(1234);
  const gen = new TreeGenerator(77, { uids: true });
  const docs = Array.from({ length: 20 }, () => gen.document());
  let failures = 0;
  for (const doc of docs) {
    for (const original of [encodeBinaryPlist(doc), encodeXmlPlist(doc)]) {
      for (let round = 0; round < 40; round++) {
        const bytes = original.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        const start = performance.now();
        try {
          decodePlist(bytes);
        } catch (error) {
          assert.ok(error instanceof PlistError, `unexpected ${String(error)}`);
          failures++;
        }
        assert.ok(performance.now() - start < FAIL_FAST_MS);
      }
    }
  }
  assert.ok(failures > 0, 'some corruptions must be detected');
});

test('unarchive rejects malformed NSKeyedArchiver structures', () => {
  const cls = { $classname: 'Thing', $classes: ['Thing', 'NSObject'] };
  const cases: [unknown, string][] = [
    ['x', 'not a dict'],
    [{ $objects: [] }, 'no $top'],
    [{ $top: { root: new PlistUid(1) }, $objects: ['$null'] }, 'root out of range'],
    [{ $top: { root: new PlistUid(1) }, $objects: ['$null', { $class: new PlistUid(2), self: new PlistUid(1) }, cls] }, 'cycle'],
    [{ $top: { root: new PlistUid(1) }, $objects: ['$null', { $class: new PlistUid(0) }] }, 'class reference to $null'],
    [{ $top: { root: 'x' }, $objects: ['$null'] }, 'root not a UID'],
  ];
  for (const [value, label] of cases) assert.throws(() => unarchive(value as never), PlistError, label);
  // 10k-deep chain of object references.
  const objects: unknown[] = ['$null', cls];
  for (let i = 0; i < 10000; i++) objects.push({ $class: new PlistUid(1), next: new PlistUid(objects.length + 1) });
  objects.push('end');
  assert.throws(() => unarchive({ $top: { root: new PlistUid(2) }, $objects: objects } as never), /nesting/);
});
