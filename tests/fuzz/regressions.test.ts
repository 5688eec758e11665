import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CorruptBackupError } from '../../src/core/errors.ts';
import { noteBodyText } from '../../src/library/categories/notes.ts';
import { runOneConfirmed } from '../../fuzz/campaign.ts';
import { TARGET_NAMES, targetByName } from '../../fuzz/targets/index.ts';

/**
 * Every input the fuzzer (or a review of its targets) ever found a problem with, replayed through the
 * same target: it must now be accepted or rejected with the parser's typed error, in under 1 s and
 * without a burst of memory. Folder = parser name in fuzz-results.json.
 */
const dir = fileURLToPath(new URL('./regressions', import.meta.url));

for (const parser of readdirSync(dir).sort()) {
  test(`fuzz regressions: ${parser}`, async () => {
    assert.ok(TARGET_NAMES.includes(parser), `tests/fuzz/regressions/${parser} names no fuzz target`);
    const target = targetByName(parser);
    const files = readdirSync(join(dir, parser)).filter((f) => f.endsWith('.bin')).sort();
    assert.ok(files.length > 0);
    for (const file of files) {
      // As in a campaign, a slow or memory finding must reproduce: the first input through the sms-db
      // target pays SQLite WASM's cold start (≈0.7 s), which a loaded machine stretched past 1 s.
      const outcome = await runOneConfirmed(target, new Uint8Array(readFileSync(join(dir, parser, file))));
      assert.notEqual(outcome.kind, 'finding', `${parser}/${file}: ${outcome.kind === 'finding' ? `${outcome.finding.signature}\n${outcome.finding.message}` : ''}`);
    }
  });
}

// Findings whose input is too large to keep as a file are rebuilt here.
test('fuzz regressions: a gzip bomb as a note body is rejected, not inflated', async () => {
  const bomb = new Uint8Array(gzipSync(new Uint8Array(40 * 1024 * 1024), { level: 1 }));
  await assert.rejects(noteBodyText(bomb), (e: unknown) => e instanceof CorruptBackupError && /inflates to more than/.test((e as Error).message));
});
