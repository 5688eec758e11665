// The CLI's Node flags live in one list (src/cli/node-flags.ts): the bench runs the bundled CLI with
// it and `npm run cli` must start Node with the same, or the bench measures a CLI nobody runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CLI_NODE_FLAGS } from '../../src/cli/node-flags.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function cliScript(): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  return pkg.scripts['cli']!.split(/\s+/);
}

test('npm run cli starts Node with the flags the bench runs the bundled CLI with', () => {
  const [program, ...args] = cliScript();
  assert.equal(program, 'node');
  assert.deepEqual(args.slice(0, CLI_NODE_FLAGS.length), [...CLI_NODE_FLAGS]);
});

test("this Node accepts the CLI's flags (an unknown one would stop the CLI before it starts)", async () => {
  const [, ...args] = cliScript();
  const { stdout } = await promisify(execFile)(process.execPath, [...args, '--help'], { cwd: root });
  assert.match(stdout, /backup/);
});
