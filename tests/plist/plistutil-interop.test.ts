import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlistUid, decodePlist, encodeBinaryPlist, encodeXmlPlist, type PlistValue } from '../../src/plist/index.ts';
import { TreeGenerator } from './plist-generators.ts';

/** Interop with libimobiledevice's libplist through /usr/bin/plistutil (one corpus per direction). */
const PLISTUTIL = '/usr/bin/plistutil';
const dir = mkdtempSync(join(tmpdir(), 'lifeboat-plistutil-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function convert(input: Uint8Array, format: 'bin' | 'xml'): Uint8Array {
  const inPath = join(dir, 'in.plist');
  const outPath = join(dir, `out.${format}`);
  writeFileSync(inPath, input);
  execFileSync(PLISTUTIL, ['-i', inPath, '-o', outPath, '-f', format], { timeout: 30_000 });
  return readFileSync(outPath);
}

function corpus(seed: number, uids: boolean): PlistValue {
  // libplist keeps whole-second dates in XML, prints only finite reals and prints -0.0 as 0;
  // CR and C0 controls are left out.
  const gen = new TreeGenerator(seed, { uids, maxDepth: 4, noNegativeZero: true });
  return Array.from({ length: 80 }, () => gen.document());
}

test('plistutil converts our binary plist to XML that we read back identically (UIDs included)', () => {
  const value = corpus(101, true);
  const xml = convert(encodeBinaryPlist(value), 'xml');
  assert.match(new TextDecoder().decode(xml.subarray(0, 200)), /<plist version="1.0">/);
  assert.deepStrictEqual(decodePlist(xml, { reals: 'wrap' }), value);
});

test('plistutil converts our XML plist to binary that we read back identically', () => {
  const value = corpus(202, false);
  const bin = convert(encodeXmlPlist(value), 'bin');
  assert.equal(new TextDecoder().decode(bin.subarray(0, 8)), 'bplist00');
  assert.deepStrictEqual(decodePlist(bin, { reals: 'wrap' }), value);
});

test('plistutil reads our XML and writes XML that we read back identically', () => {
  const value = corpus(303, true);
  assert.deepStrictEqual(decodePlist(convert(encodeXmlPlist(value), 'xml'), { reals: 'wrap' }), value);
});

test('plistutil reads our binary and writes binary that we read back identically (UIDs, 64-bit edges)', () => {
  const edges = [0, -1, 2 ** 32, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, new PlistUid(0), new PlistUid(2 ** 32 - 1)];
  const value = [corpus(404, true), edges];
  assert.deepStrictEqual(decodePlist(convert(encodeBinaryPlist(value), 'bin'), { reals: 'wrap' }), value);
});
