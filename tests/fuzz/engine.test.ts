import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCampaign } from '../../fuzz/campaign.ts';
import { mutate } from '../../fuzz/mutate.ts';
import { Rng } from '../../fuzz/rng.ts';
import type { FuzzTarget } from '../../fuzz/target.ts';
import { PlistError, decodeBinaryPlist, encodeBinaryPlist } from '../../src/plist/index.ts';

test('the same seed gives the same inputs; another seed gives others', () => {
  const seedInput = new Uint8Array(256).map((_, i) => i);
  const run = (seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: 200 }, () => Buffer.from(mutate(seedInput, rng, seedInput, 1024)).toString('hex'));
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
});

test('mutations stay within the size limit and leave the seed untouched', () => {
  const rng = new Rng(1);
  const seed = new Uint8Array(100).fill(0x55);
  for (let i = 0; i < 5000; i++) {
    const out = mutate(seed, rng, seed, 128);
    assert.ok(out.length <= 128, `mutation ${i} grew to ${out.length} bytes`);
  }
  assert.ok(seed.every((b) => b === 0x55));
});

test('a campaign counts its executions, keeps inputs with new outcomes and is reproducible', async () => {
  const target: FuzzTarget = {
    name: 'plist-binary-test',
    seeds: async () => [encodeBinaryPlist({ a: [1, 'two', new Uint8Array([3])] })],
    run(input) {
      decodeBinaryPlist(input);
    },
    expected: (e) => e instanceof PlistError,
  };
  const a = await runCampaign(target, { executions: 3000, seed: 3 });
  const b = await runCampaign(target, { executions: 3000, seed: 3 });
  assert.equal(a.result.executions, 3000);
  assert.equal(a.result.findings, 0);
  assert.ok(a.result.outcomes > 3, `only ${a.result.outcomes} distinct outcomes`);
  assert.equal(a.result.outcomes, b.result.outcomes);
  assert.equal(a.result.corpus, b.result.corpus);
});
