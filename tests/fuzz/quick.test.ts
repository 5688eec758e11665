import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGET_NAMES } from '../../fuzz/targets/index.ts';

/**
 * `npm run fuzz -- --quick` as part of npm test: about 10,000 mutated inputs per parser (fewer for
 * the few that go through SQLite WASM or sockets, see quickExecutions in fuzz/targets), none may
 * be a finding. The results file is written to a temp dir so a full run's fuzz-results.json stays.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

test('quick fuzz campaign over every parser finds nothing', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-fuzz-quick-'));
  try {
    const out = join(dir, 'fuzz-results.json');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'fuzz/run.ts', '--quick', `--out=${out}`, `--findings=${join(dir, 'findings')}`], { cwd: root, encoding: 'utf8' });
    const results = JSON.parse(readFileSync(out, 'utf8')) as { parser: string; executions: number; findings: number; slowest_ms: number }[];
    assert.deepEqual(results.map((r) => r.parser), [...TARGET_NAMES]);
    for (const r of results) {
      assert.ok(r.executions >= 1000, `${r.parser}: only ${r.executions} executions`);
      assert.ok(r.slowest_ms < 1000, `${r.parser}: slowest ${r.slowest_ms} ms`);
    }
    // Deterministic: `npm run fuzz -- --quick` reproduces any finding and leaves its input in fuzz-findings/.
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(results.reduce((n, r) => n + r.findings, 0), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
