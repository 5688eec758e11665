import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable, runCampaign } from './campaign.ts';

// A seeded slice of `npm run faults`: one random point for every operation × fault. The full
// campaign (≥ 100 points each) runs outside `npm test`.
test('fault slice: every operation survives every fault at a seeded point, and no file is lost', { timeout: 600_000 }, async () => {
  const { rows, results } = await runCampaign({ points: 1, seed: 20261203 });
  console.log(formatTable(rows));
  for (const r of results) {
    const where = `${r.op} × ${r.fault} at byte ${r.point}`;
    assert.equal(r.problem, undefined, `${where}: ${r.problem}`);
    assert.equal(r.filesLost, 0, where);
    assert.equal(r.untyped, false, `${where} ended with an untyped error: ${r.outcome}`);
    if (r.fired && r.fault === 'stall') assert.equal(r.outcome, 'timeout', `${where}: a stall ends as a timeout`);
    if (r.fired && r.fault === 'sigkill') assert.equal(r.outcome, 'killed', `${where}: the CLI process was killed`);
    if (r.fired && r.fault === 'unplug') assert.equal(r.outcome, 'device-disconnected', `${where}: an unplug ends as a disconnect`);
  }
  assert.equal(rows.length, 28);
  assert.ok(results.filter((r) => r.fired).length >= 21, 'most points hit their run');
});
