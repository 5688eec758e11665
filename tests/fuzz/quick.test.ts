import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGET_NAMES } from '../../fuzz/targets/index.ts';

/**
 * `npm run fuzz -- --quick` as part of npm test: about 10,000 mutated inputs per parser (fewer for
 * the two that go through SQLite WASM and a backup reader, see quickExecutions in fuzz/targets),
 * none may be a finding. Like the full run it writes fuzz-results.json (and any finding's input to
 * fuzz-findings/) at the top of the checkout. About 30 s of CPU.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

test('quick fuzz campaign over every parser finds nothing', { timeout: 600_000 }, () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'fuzz/run.ts', '--quick'], { cwd: root, encoding: 'utf8' });
  const results = JSON.parse(readFileSync(join(root, 'fuzz-results.json'), 'utf8')) as { parser: string; executions: number; findings: number; slowest_ms: number }[];
  assert.deepEqual(results.map((r) => r.parser), [...TARGET_NAMES]);
  for (const r of results) {
    assert.ok(r.executions >= 4000, `${r.parser}: only ${r.executions} executions`);
    assert.ok(r.slowest_ms < 1000, `${r.parser}: slowest ${r.slowest_ms} ms`);
  }
  // Deterministic: `npm run fuzz -- --quick` reproduces any finding and leaves its input in fuzz-findings/.
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.equal(results.reduce((n, r) => n + r.findings, 0), 0);
});
