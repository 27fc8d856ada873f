/** Guards the import rules of ARCHITECTURE §2: dependencies point inward. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const PLATFORM_SDKS = ['@slack/', 'grammy', 'twilio', '@octokit/', 'openai', '@anthropic-ai/sdk'];
const DB_DRIVERS = ['drizzle-orm', 'postgres', '@electric-sql/pglite', 'pg-boss', 'pg'];
const CHANNEL_SDK: Record<string, string[]> = {
  slack: ['@slack/'],
  telegram: ['grammy', '@grammyjs/'],
  whatsapp: ['twilio'],
  github: ['@octokit/'],
  hooks: ['standardwebhooks'],
  web: ['zod'],
};
const CORE_FOR_CHANNELS = ['src/types.ts', 'src/ports.ts', 'src/config.ts', 'src/diff.ts', 'src/review/index.ts', 'src/split.ts', 'src/sanitize.ts'];
// The composition root wires everything together; it is the one place allowed to see all layers.
const COMPOSITION_ROOT = new Set(['src/server.ts', 'src/cli.ts', 'src/doctor.ts', 'src/simulate.ts']);

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)].map((m) => m[1] ?? m[2]!);
}

/** Resolves a relative import to a repo path; bare specifiers stay as they are. */
function target(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return relative(ROOT, resolve(ROOT, file, '..', spec)).replaceAll('\\', '/');
}

const isPackage = (spec: string, names: string[]) => names.some((n) => (n.endsWith('/') ? spec.startsWith(n) : spec === n || spec.startsWith(`${n}/`)));

function violations(dir: string, rule: (file: string, spec: string, to: string) => string | undefined) {
  const out: string[] = [];
  for (const file of files(dir)) {
    for (const spec of imports(file)) {
      const problem = rule(file, spec, target(file, spec));
      if (problem) out.push(`${file} imports ${spec}: ${problem}`);
    }
  }
  return out;
}

describe('import rules', () => {
  it('finds the imports it checks (the checker itself works)', () => {
    expect(imports('src/server.ts')).toContain('../handlers/app.ts');
    expect(files('channels').length).toBeGreaterThan(4);
  });

  it('core (src/) imports no channel, handler, platform SDK or database driver', () => {
    expect(
      violations('src', (file, spec, to) => {
        if (COMPOSITION_ROOT.has(file)) return undefined;
        if (to.startsWith('channels/') || to.startsWith('handlers/')) return 'core must not depend on channels or handlers';
        if (isPackage(spec, PLATFORM_SDKS) && !file.startsWith('src/llm/')) return 'platform SDKs belong in channels/';
        if (isPackage(spec, DB_DRIVERS)) return 'database drivers belong in db/';
        return undefined;
      }),
    ).toEqual([]);
  });

  it('a channel imports core types and its own platform SDK only', () => {
    expect(
      violations('channels', (file, spec, to) => {
        const own = file.split('/')[1]!;
        if (spec.startsWith('node:')) return undefined;
        if (spec.startsWith('.')) {
          // Besides types: the pure diff parser and review classification, which GitHub's adapter checks comment lines with,
          // and the message splitter the chat channels share.
          if (to.startsWith('src/')) return CORE_FOR_CHANNELS.includes(to) ? undefined : 'channels see core types only';
          if (file === 'channels/index.ts') return to.startsWith('channels/') ? undefined : 'the registry sees channels only';
          return to.startsWith(`channels/${own}/`) ? undefined : 'a channel must not reach into another module';
        }
        return isPackage(spec, CHANNEL_SDK[own] ?? []) ? undefined : `channel ${own} may use only its own SDK`;
      }),
    ).toEqual([]);
  });

  it('handlers never talk SQL', () => {
    expect(violations('handlers', (_file, spec) => (isPackage(spec, DB_DRIVERS) ? 'handlers go through the Store' : undefined))).toEqual([]);
  });

  it('db/ knows no channel or handler', () => {
    expect(
      violations('db', (_file, spec, to) =>
        to.startsWith('channels/') || to.startsWith('handlers/') || isPackage(spec, PLATFORM_SDKS) ? 'db must not know channels' : undefined,
      ),
    ).toEqual([]);
  });
});
