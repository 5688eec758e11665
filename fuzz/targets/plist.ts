import { MVT_BACKUP, PYIOSBACKUP_ENCRYPTED, fixtureFile, fixtureMbFiles, text } from '../seeds.ts';
import { PlistError, decodeBinaryPlist, decodePlist, decodeXmlPlist, encodeBinaryPlist, encodeXmlPlist, archive, unarchive } from '../../src/plist/index.ts';
import { TreeGenerator } from '../../tests/plist/plist-generators.ts';
import type { Rng } from '../rng.ts';
import type { FuzzTarget } from '../target.ts';

const isPlistError = (e: unknown): boolean => e instanceof PlistError;

function tree(rng: Rng) {
  return new TreeGenerator(rng.u32(), { uids: true, msDates: true, nonFinite: true, loneSurrogates: true, controlChars: true, maxDepth: 4 }).tree();
}

async function fixturePlists(): Promise<Uint8Array[]> {
  return [
    await fixtureFile(MVT_BACKUP, 'Info.plist'),
    await fixtureFile(PYIOSBACKUP_ENCRYPTED, 'Info.plist'),
    await fixtureFile(PYIOSBACKUP_ENCRYPTED, 'Manifest.plist'),
  ];
}

export const plistBinary: FuzzTarget = {
  name: 'plist-binary',
  async seeds() {
    const out = [...(await fixtureMbFiles(24)), ...(await fixturePlists()).map((p) => encodeBinaryPlist(decodePlist(p)))];
    return out;
  },
  generate: (rng) => encodeBinaryPlist(tree(rng)),
  run(input) {
    decodeBinaryPlist(input);
  },
  expected: isPlistError,
};

export const plistXml: FuzzTarget = {
  name: 'plist-xml',
  async seeds() {
    const xml = (await fixturePlists()).map((p) => encodeXmlPlist(decodePlist(p)));
    return [
      ...xml.map((x) => x.subarray(0, 16 * 1024)),
      text('<?xml version="1.0"?><!DOCTYPE plist><plist version="1.0"><dict><key>a&amp;&#x41;&#66;</key><array><integer>-0x10</integer><real>1e3</real><date>2020-01-01T00:00:00Z</date><data>AAE=</data><true/><false/><string><![CDATA[x]]></string></array></dict></plist>'),
    ];
  },
  generate: (rng) => encodeXmlPlist(tree(rng)),
  run(input) {
    decodeXmlPlist(input);
  },
  expected: isPlistError,
};

export const keyedArchiver: FuzzTarget = {
  name: 'keyed-archiver',
  async seeds() {
    return [
      ...(await fixtureMbFiles(32)),
      encodeBinaryPlist(archive({ $class: 'MBFile', RelativePath: 'a/b', Size: 3, Flags: 1, LastModified: new Date(0), ExtendedAttributes: new Uint8Array([1, 2]), List: ['x', 2, true], Map: { k: 'v' } })),
    ];
  },
  run(input) {
    // The archive's plist layer has its own target; here the interesting part is the object graph.
    let top;
    try {
      top = decodePlist(input);
    } catch (e) {
      if (e instanceof PlistError) return;
      throw e;
    }
    unarchive(top);
  },
  expected: isPlistError,
};
