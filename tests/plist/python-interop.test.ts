import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePlist, encodeBinaryPlist, encodeXmlPlist, type PlistValue } from '../../src/plist/index.ts';
import { TreeGenerator, normalizeTagged, tag, type Tagged } from './plist-generators.ts';

/**
 * Interop with CPython's plistlib, both directions, one interpreter per file: plistlib loads our
 * output and reports a tagged description of every value, then re-encodes each value itself
 * (binary and XML) for us to decode. Values are compared, never bytes.
 */
const PYTHON = String.raw`
import json, plistlib, struct, sys, datetime, os
EPOCH = datetime.datetime(1970, 1, 1)
def tag(v):
    if isinstance(v, bool): return ['bool', v]
    if isinstance(v, int): return ['int', str(v)]
    if isinstance(v, float):
        return ['real', 'nan' if v != v else struct.pack('>d', v).hex()]
    if isinstance(v, str): return ['str', v]
    if isinstance(v, bytes): return ['data', v.hex()]
    if isinstance(v, datetime.datetime):
        return ['date', str(round((v - EPOCH) / datetime.timedelta(milliseconds=1)))]
    if isinstance(v, plistlib.UID): return ['uid', str(v.data)]
    if isinstance(v, list): return ['array', [tag(x) for x in v]]
    if isinstance(v, dict): return ['dict', [[k, tag(x)] for k, x in v.items()]]
    raise TypeError(type(v))
d = sys.argv[1]
jobs = json.load(open(os.path.join(d, 'jobs.json')))
out = []
for job in jobs:
    value = plistlib.loads(open(os.path.join(d, job['file']), 'rb').read())
    with open(os.path.join(d, job['file'] + '.py.bin'), 'wb') as f:
        f.write(plistlib.dumps(value, fmt=plistlib.FMT_BINARY, sort_keys=False))
    if job['xml']:
        with open(os.path.join(d, job['file'] + '.py.xml'), 'wb') as f:
            f.write(plistlib.dumps(value, fmt=plistlib.FMT_XML, sort_keys=False))
    out.append(tag(value))
json.dump(out, open(os.path.join(d, 'tags.json'), 'w'))
`;

const COUNT = 60;
let dir = '';
const binaryCorpus: PlistValue[] = [];
const xmlCorpus: PlistValue[] = [];
let tags: Tagged[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lifeboat-plist-py-'));
  // Binary carries UIDs, millisecond dates and control characters; XML carries none of those.
  const binGen = new TreeGenerator(0x5eed, { uids: true, msDates: true, controlChars: true, carriageReturn: true, nonFinite: true, noNegativeZero: true, maxDepth: 4 });
  const xmlGen = new TreeGenerator(0xfeed, { nonFinite: true, noNegativeZero: true, maxDepth: 4 });
  const jobs: { file: string; xml: boolean }[] = [];
  for (let i = 0; i < COUNT; i++) {
    binaryCorpus.push(binGen.document());
    writeFileSync(join(dir, `b${i}.plist`), encodeBinaryPlist(binaryCorpus[i]!));
    jobs.push({ file: `b${i}.plist`, xml: false });
  }
  for (let i = 0; i < COUNT; i++) {
    xmlCorpus.push(xmlGen.document());
    writeFileSync(join(dir, `x${i}.plist`), encodeXmlPlist(xmlCorpus[i]!));
    jobs.push({ file: `x${i}.plist`, xml: true });
  }
  writeFileSync(join(dir, 'jobs.json'), JSON.stringify(jobs));
  const run = spawnSync('python3', ['-c', PYTHON, dir], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  tags = (JSON.parse(readFileSync(join(dir, 'tags.json'), 'utf8')) as Tagged[]).map(normalizeTagged);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('plistlib reads our binary plists with identical values', () => {
  for (let i = 0; i < COUNT; i++) assert.deepStrictEqual(tags[i], tag(binaryCorpus[i]!), `b${i}`);
});

test('plistlib reads our XML plists with identical values', () => {
  for (let i = 0; i < COUNT; i++) assert.deepStrictEqual(tags[COUNT + i], tag(xmlCorpus[i]!), `x${i}`);
});

test('we read plistlib binary plists with identical values', () => {
  for (let i = 0; i < COUNT; i++) {
    assert.deepStrictEqual(decodePlist(readFileSync(join(dir, `b${i}.plist.py.bin`)), { reals: 'wrap' }), binaryCorpus[i], `b${i}`);
    assert.deepStrictEqual(decodePlist(readFileSync(join(dir, `x${i}.plist.py.bin`)), { reals: 'wrap' }), xmlCorpus[i], `x${i} as binary`);
  }
});

test('we read plistlib XML plists with identical values', () => {
  for (let i = 0; i < COUNT; i++) {
    assert.deepStrictEqual(decodePlist(readFileSync(join(dir, `x${i}.plist.py.xml`)), { reals: 'wrap' }), xmlCorpus[i], `x${i}`);
  }
});
