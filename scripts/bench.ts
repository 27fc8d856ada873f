/**
 * `npm run bench [-- <name>]`: runs the named benchmark (all when none is named), prints a table and
 * writes bench-results/<name>.json. Numbers are for notes and the README, never for test verdicts.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const dir = join(ROOT, 'scripts', 'bench');
// Helpers live in scripts/bench/lib/; every file directly in scripts/bench/ is a benchmark.
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : available;

for (const name of names) {
  if (!available.includes(name)) {
    console.error(`unknown benchmark "${name}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
}
mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
for (const name of names) {
  const mod = (await import(join(dir, `${name}.ts`))) as { run(): Promise<{ rows: Record<string, string | number>[]; data: unknown }> };
  console.log(`\n## ${name}`);
  const { rows, data } = await mod.run();
  console.table(rows);
  writeFileSync(join(ROOT, 'bench-results', `${name}.json`), JSON.stringify({ name, at: new Date().toISOString(), node: process.version, data }, null, 2));
}
