import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PlistReal,
  PlistUid,
  decodePlist,
  encodeBinaryPlist,
  encodeXmlPlist,
  type PlistValue,
} from '../../src/plist/index.ts';
import { TreeGenerator } from './plist-generators.ts';

const TREES = 120;

test('binary: encode → decode is the identity for random trees (unicode, lone surrogates, big ints, ms dates, UIDs)', () => {
  const gen = new TreeGenerator(0xb1a5, { loneSurrogates: true, controlChars: true, carriageReturn: true, uids: true, msDates: true, nonFinite: true });
  for (let i = 0; i < TREES; i++) {
    const value = gen.document();
    const decoded = decodePlist(encodeBinaryPlist(value), { reals: 'wrap' });
    assert.deepStrictEqual(decoded, value, `tree ${i}`);
  }
});

test('XML: encode → decode is the identity for random trees (CR, UIDs, whole-second dates, NaN/±Inf)', () => {
  const gen = new TreeGenerator(0x7e57, { carriageReturn: true, uids: true, nonFinite: true });
  for (let i = 0; i < TREES; i++) {
    const value = gen.document();
    const decoded = decodePlist(encodeXmlPlist(value), { reals: 'wrap' });
    assert.deepStrictEqual(decoded, value, `tree ${i}`);
  }
});

test('binary ↔ XML cross conversion preserves values', () => {
  const gen = new TreeGenerator(42, { uids: true });
  for (let i = 0; i < 100; i++) {
    const value = gen.document();
    const viaXml = decodePlist(encodeXmlPlist(decodePlist(encodeBinaryPlist(value), { reals: 'wrap' })), { reals: 'wrap' });
    assert.deepStrictEqual(viaXml, value, `tree ${i}`);
  }
});

test('decoding without wrap gives plain numbers for reals, number/bigint split at 2^53', () => {
  const value = { whole: new PlistReal(2), frac: 2.5, safe: Number.MAX_SAFE_INTEGER, big: 2n ** 53n, neg: -(2n ** 60n) };
  for (const bytes of [encodeBinaryPlist(value), encodeXmlPlist(value)]) {
    const decoded = decodePlist(bytes);
    assert.deepStrictEqual(decoded, { whole: 2, frac: 2.5, safe: Number.MAX_SAFE_INTEGER, big: 2n ** 53n, neg: -(2n ** 60n) });
  }
});

test('binary integer and size encodings match the format: 1/2/4/8/16-byte ints, two’s complement negatives', () => {
  const cases: [PlistValue, number[]][] = [
    [0, [0x10, 0]],
    [255, [0x10, 255]],
    [256, [0x11, 1, 0]],
    [65536, [0x12, 0, 1, 0, 0]],
    [2 ** 32, [0x13, 0, 0, 0, 1, 0, 0, 0, 0]],
    [-1, [0x13, 255, 255, 255, 255, 255, 255, 255, 255]],
    [2n ** 63n, [0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0]],
    [new PlistUid(5), [0x80, 5]],
    [new PlistUid(300), [0x81, 1, 44]],
    [true, [0x09]],
    [new PlistReal(2), [0x23, 0x40, 0, 0, 0, 0, 0, 0, 0]],
  ];
  for (const [value, expected] of cases) {
    const bytes = encodeBinaryPlist(value);
    assert.deepStrictEqual([...bytes.subarray(8, 8 + expected.length)], expected, String(value));
    assert.deepStrictEqual(decodePlist(bytes, { reals: 'wrap' }), value);
  }
  assert.throws(() => encodeBinaryPlist(2n ** 64n), { name: 'PlistError' });
  assert.throws(() => encodeBinaryPlist(-(2n ** 63n) - 1n), { name: 'PlistError' });
});

test('binary strings: ASCII as 0x5n, anything else as UTF-16BE 0x6n, long lengths as a trailing int', () => {
  const ascii = encodeBinaryPlist('abc');
  assert.deepStrictEqual([...ascii.subarray(8, 12)], [0x53, 0x61, 0x62, 0x63]);
  const utf16 = encodeBinaryPlist('é😀');
  assert.deepStrictEqual([...utf16.subarray(8, 15)], [0x63, 0x00, 0xe9, 0xd8, 0x3d, 0xde, 0x00]);
  const long = 'x'.repeat(300);
  const bytes = encodeBinaryPlist(long);
  assert.deepStrictEqual([...bytes.subarray(8, 12)], [0x5f, 0x11, 0x01, 0x2c]);
  assert.equal(decodePlist(bytes), long);
});

test('offset and reference widths grow past 255 objects and 64 KiB', () => {
  const many = Array.from({ length: 70000 }, (_, i) => i);
  const bytes = encodeBinaryPlist(many);
  const trailer = bytes.subarray(bytes.length - 32);
  assert.equal(trailer[6], 4, 'offset int size');
  assert.equal(trailer[7], 4, 'object ref size');
  assert.deepStrictEqual(decodePlist(bytes), many);
  const small = encodeBinaryPlist([1, 2, 3]);
  assert.equal(small[small.length - 32 + 6], 1);
  assert.equal(small[small.length - 32 + 7], 1);
});

test('identical strings are stored once; shared sub-objects decode to equal values', () => {
  const shared = { k: 'v' };
  const value = { a: 'same', b: 'same', c: [shared, shared] };
  const bytes = encodeBinaryPlist(value);
  assert.equal(bytes.length - 32 > 0, true);
  const count = Number(new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 24, 8).getBigUint64(0));
  // top dict, keys a/b/c, "same", array, shared dict, "k", "v"
  assert.equal(count, 9);
  assert.deepStrictEqual(decodePlist(bytes), { a: 'same', b: 'same', c: [{ k: 'v' }, { k: 'v' }] });
});

test('undefined dict values are skipped; null and cycles are rejected', () => {
  const value = { a: 1, b: undefined } as unknown as PlistValue;
  assert.deepStrictEqual(decodePlist(encodeBinaryPlist(value)), { a: 1 });
  assert.deepStrictEqual(decodePlist(encodeXmlPlist(value)), { a: 1 });
  const cyclic: PlistValue[] = [];
  cyclic.push(cyclic);
  assert.throws(() => encodeBinaryPlist(cyclic), { name: 'PlistError' });
  assert.throws(() => encodeXmlPlist(cyclic), { name: 'PlistError' });
  assert.throws(() => encodeBinaryPlist([null as unknown as PlistValue]), { name: 'PlistError' });
  assert.throws(() => encodeXmlPlist(new Date(NaN)), { name: 'PlistError' });
});

test('XML: entities, CDATA, comments, BOM, leading whitespace, control bytes and wrapped base64', () => {
  const xml =
    '\ufeff  \n<?xml version="1.0" encoding="UTF-8"?>\n<!-- hi -->\n' +
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
    '<plist version="1.0"><dict>' +
    '<key>e</key><string>&lt;&amp;&gt;&quot;&apos;&#65;&#x1F600;</string>' +
    '<key>c</key><string>a<![CDATA[<b>&]]>c<!-- x -->d</string>' +
    '<key>ctl</key><string>x\u0001y\u0000z\tw</string>' +
    '<key>d</key><data>\n\tAQID\n\tBA==\n</data>' +
    '<key>empty</key><string/>' +
    '<key>i</key><integer> 0x1F </integer>' +
    '<key>date</key><date>2001-01-01T00:00:00Z</date>' +
    '<key>t</key><true/><key>f</key><false></false>' +
    '<key>u</key><dict><key>CF$UID</key><integer>7</integer></dict>' +
    '<key>notuid</key><dict><key>CF$UID</key><string>7</string></dict>' +
    '</dict></plist>';
  const decoded = decodePlist(new TextEncoder().encode(xml));
  assert.deepStrictEqual(decoded, {
    e: '<&>"\'A😀',
    c: 'a<b>&cd',
    ctl: 'x y z\tw',
    d: new Uint8Array([1, 2, 3, 4]),
    empty: '',
    i: 31,
    date: new Date('2001-01-01T00:00:00Z'),
    t: true,
    f: false,
    u: new PlistUid(7),
    notuid: { 'CF$UID': '7' },
  });
});

test('XML encoder escapes markup and CR so strings survive exactly', () => {
  const text = new TextDecoder().decode(encodeXmlPlist({ 'a<b': 'x & y > z\r\n' }));
  assert.match(text, /<key>a&lt;b<\/key>/);
  assert.match(text, /<string>x &amp; y &gt; z&#13;\n<\/string>/);
});

test('large plists decode quickly (a 2 MB Manifest-like document)', () => {
  const files: Record<string, PlistValue> = {};
  for (let i = 0; i < 10000; i++) {
    files[`f${i.toString(16).padStart(40, '0')}`] = { Domain: 'AppDomain-com.example', Path: `Library/Caches/file-${i}.db`, Size: i * 17, Hash: new Uint8Array(20).fill(i & 255) };
  }
  const value = { Files: files, Version: '10.0' };
  for (const bytes of [encodeBinaryPlist(value), encodeXmlPlist(value)]) {
    const decoded = decodePlist(bytes) as { Files: Record<string, unknown> };
    assert.equal(Object.keys(decoded.Files).length, 10000);
  }
});
