import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The runner against parsers with planted defects: each kind of finding must be reported, and the run fail. */
test('the fuzz runner reports an untyped error, a slow case, a memory burst and a hang', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-fuzz-self-test-'));
  try {
    const out = join(dir, 'results.json');
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'fuzz/run.ts', '--only=self-test-error,self-test-slow,self-test-memory,self-test-hang', '--executions=20', '--hang-ms=4000', `--out=${out}`, `--findings=${join(dir, 'findings')}`],
      { cwd: root, encoding: 'utf8', env: { ...process.env, LIFEBOAT_FUZZ_SELF_TEST: '1' } },
    );
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { parser: string; findings: number; slowest_ms: number }[];
    assert.deepEqual(
      results.map((r) => [r.parser, r.findings]),
      [['self-test-error', 1], ['self-test-slow', 1], ['self-test-memory', 1], ['self-test-hang', 1]],
    );
    assert.match(run.stdout, /error: error TypeError: the parser forgot a bounds check/);
    assert.match(run.stdout, /slow: slow accepted/);
    assert.match(run.stdout, /memory: memory accepted/);
    assert.match(run.stdout, /hang: hang no execution finished in 4 s/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
