#!/usr/bin/env node
// The whole test suite: unit, Node integration, interop with Debian's libimobiledevice/OpenSSL/GnuTLS
// tools, and Playwright in Debian's chromium. Installs the system packages it needs when it can.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SYSTEM_TOOLS = {
  '/usr/bin/chromium': 'chromium',
  '/usr/bin/ideviceinfo': 'libimobiledevice-utils',
  '/usr/bin/plistutil': 'libplist-utils',
  '/usr/bin/gnutls-serv': 'gnutls-bin',
  '/usr/bin/openssl': 'openssl',
  '/usr/bin/sqlite3': 'sqlite3',
};

function ensureSystemPackages() {
  const missing = [...new Set(Object.entries(SYSTEM_TOOLS).filter(([bin]) => !existsSync(bin)).map(([, pkg]) => pkg))];
  if (missing.length === 0) return;
  const cmd = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    console.error(`The tests need system packages that are missing. Run:\n  sudo sh -c '${cmd}'`);
    process.exit(2);
  }
  console.log(`Installing system packages: ${missing.join(' ')}`);
  const r = spawnSync('sh', ['-c', cmd], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`Installing system packages failed. Run by hand:\n  ${cmd}`);
    process.exit(2);
  }
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

function runNodeTests(files, label, concurrency) {
  return new Promise((resolve) => {
    if (files.length === 0) return resolve({ pass: 0, fail: 0 });
    console.log(`\n== ${label}: ${files.length} files ==`);
    const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...files.map((f) => relative(root, f))];
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } });
    let tail = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      const pass = Number(/ℹ pass (\d+)/.exec(tail)?.[1] ?? 0);
      let fail = Number(/ℹ fail (\d+)/.exec(tail)?.[1] ?? 0);
      if (code !== 0 && fail === 0) fail = 1; // a crash outside any test still fails the run
      resolve({ pass, fail });
    });
  });
}

const filter = process.argv.slice(2);
if (!process.env.LIFEBOAT_SKIP_SYSTEM_PACKAGES) ensureSystemPackages();
let all = findTests(join(root, 'tests'));
if (filter.length) all = all.filter((f) => filter.some((x) => f.includes(x)));
const e2e = all.filter((f) => f.includes(`${join('tests', 'e2e')}`));
const node = all.filter((f) => !e2e.includes(f));

let totals = { pass: 0, fail: 0 };
const r1 = await runNodeTests(node, 'unit + integration + interop', 2);
totals = { pass: totals.pass + r1.pass, fail: totals.fail + r1.fail };
if (e2e.length) {
  console.log('\n== building the app for end-to-end tests ==');
  const b = spawnSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) totals.fail += 1;
  else {
    const r2 = await runNodeTests(e2e, 'end to end (Playwright + chromium)', 1);
    totals = { pass: totals.pass + r2.pass, fail: totals.fail + r2.fail };
  }
}
console.log(`\n${totals.pass} passed, ${totals.fail} failed`);
process.exit(totals.fail === 0 && totals.pass > 0 ? 0 : 1);
