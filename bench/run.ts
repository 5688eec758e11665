// `npm run bench`: runs every bench/*.bench.ts (each default-exports an async function returning
// BenchResult[]), prints a table and writes bench-results.json at the project root.
import { readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { BenchResult } from './bench-result.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const results: BenchResult[] = [];
for (const file of files) {
  process.stdout.write(`running ${file}…\n`);
  try {
    const mod = (await import(pathToFileURL(join(here, file)).href)) as { default: () => Promise<BenchResult[]> };
    results.push(...(await mod.default()));
  } catch (error) {
    console.error(`  ${file} failed: ${error instanceof Error ? error.stack : String(error)}`);
  }
}

const rows = results.map((r) => {
  const ok = r.better === 'higher' ? r.value >= r.target : r.value <= r.target;
  return [r.name, `${round(r.value)} ${r.unit}`, `${r.better === 'higher' ? '≥' : '≤'} ${r.target} ${r.unit}`, ok ? 'ok' : 'below target'];
});
const header = ['benchmark', 'value', 'target', ''];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
for (const r of rows) console.log(line(r));
writeFileSync(join(here, '..', 'bench-results.json'), JSON.stringify(results, null, 2) + '\n');
console.log(`\nwrote bench-results.json (${results.length} figures)`);

function round(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3);
}
