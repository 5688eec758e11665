// A string kept from a big XML plist must not keep the whole document's text alive: a restore kept
// one value of a 16 MB Info.plist and with it the 16 MB (twice) for as long as it ran.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodePlist, encodeXmlPlist, isPlistDict } from '../../src/plist/index.ts';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

test('a string value of a big XML plist does not hold the document', () => {
  const filler = 'x'.repeat(1024);
  const dict: Record<string, string> = { DeviceName: 'Ada’s iPhone 15 Pro Max' };
  for (let i = 0; i < 24 * 1024; i++) dict[`k${i}`] = `${i}${filler}`;
  let xml: Uint8Array | null = encodeXmlPlist(dict);
  collect();
  const before = process.memoryUsage().heapUsed;
  let decoded = decodePlist(xml);
  xml = null;
  assert.ok(isPlistDict(decoded));
  const kept = decoded['DeviceName'];
  assert.equal(kept, 'Ada’s iPhone 15 Pro Max');
  decoded = {};
  collect();
  const held = process.memoryUsage().heapUsed - before;
  // 24k values of 1 KiB: 25 MB of text (more as UTF-16, since the document holds a non-Latin-1 character).
  assert.ok(held < 5_000_000, `${(held / 1e6).toFixed(1)} MB still held for one kept string`);
  assert.equal(kept, 'Ada’s iPhone 15 Pro Max');
});
