import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The runner against parsers with planted defects (LIFEBOAT_FUZZ_SELF_TEST): what it reports, and its exit status. */
function runSelfTest(parsers: string[], hangMs: number): { status: number | null; stdout: string; findings: [string, number][] } {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-fuzz-self-test-'));
  try {
    const out = join(dir, 'results.json');
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'fuzz/run.ts', `--only=${parsers.join(',')}`, '--executions=20', `--hang-ms=${hangMs}`, `--out=${out}`, `--findings=${join(dir, 'findings')}`],
      { cwd: root, encoding: 'utf8', env: { ...process.env, LIFEBOAT_FUZZ_SELF_TEST: '1' } },
    );
    const results = JSON.parse(readFileSync(out, 'utf8')) as { parser: string; findings: number }[];
    return { status: run.status, stdout: run.stdout + run.stderr, findings: results.map((r) => [r.parser, r.findings]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the fuzz runner reports an untyped error, a slow case and a memory burst', { timeout: 300_000 }, () => {
  // A generous hang limit: on a busy machine the slow case's second of work can take many seconds.
  const run = runSelfTest(['self-test-error', 'self-test-slow', 'self-test-memory'], 120_000);
  assert.equal(run.status, 1, run.stdout);
  assert.deepEqual(run.findings, [['self-test-error', 1], ['self-test-slow', 1], ['self-test-memory', 1]]);
  assert.match(run.stdout, /error: error TypeError: the parser forgot a bounds check/);
  assert.match(run.stdout, /slow: slow accepted/);
  assert.match(run.stdout, /memory: memory accepted/);
});

test('the fuzz runner stops a hang and goes on with the next parser in a fresh worker', { timeout: 300_000 }, () => {
  const run = runSelfTest(['self-test-hang', 'self-test-error'], 3000);
  assert.equal(run.status, 1, run.stdout);
  assert.deepEqual(run.findings, [['self-test-hang', 1], ['self-test-error', 1]]);
  assert.match(run.stdout, /hang: hang no execution finished in 3 s/);
});
