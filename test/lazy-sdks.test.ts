/**
 * A platform's or provider's SDK is loaded only when its channel or provider is enabled (issue 13: a web process
 * serving no platform stays small and starts fast). A child Node process records every module it resolves.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, ROOT } from './support/process.ts';

const SDKS = ['@slack/bolt', '@slack/web-api', '@slack/socket-mode', 'grammy', 'twilio', 'openai', '@anthropic-ai/sdk', '@octokit/'];

/** The SDKs among resolved module URLs, each named once. */
const sdksIn = (urls: string[]) => SDKS.filter((sdk) => urls.some((url) => url.includes(`/node_modules/${sdk}`)));

// Starts a web Switchboard with nothing enabled, then one with Slack and OpenAI, printing what each start had loaded.
const PROGRAM = `
import { registerHooks } from 'node:module';
const resolved = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); resolved.add(r.url); return r; } });
// As bin/switchboard.js starts a process.
const { loadDrizzleAsCommonJs } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'db/drizzle-commonjs.ts')).href)});
loadDrizzleAsCommonJs();
const { loadConfig } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/config.ts')).href)});
const { startSwitchboard } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/server.ts')).href)});
const { createLogger } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/logger.ts')).href)});
const base = { DATA_DIR: process.env.TEST_DATA_DIR, ADMIN_TOKEN: 'test-admin-token-0123456789', LOG_LEVEL: 'silent' };
const out = {};
for (const [name, env] of [
  ['nothing', {}],
  ['slack+openai', { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's', OPENAI_API_KEY: 'k', LLM_PROVIDERS: 'openai' }],
]) {
  const sb = await startSwitchboard(loadConfig({ ...base, ...env }), { role: 'web', listen: false, logger: createLogger('silent') });
  out[name] = [...resolved];
  await sb.stop();
}
console.log(JSON.stringify(out));
`;

describe('SDKs load with their channel', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-lazy-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  let loadedByStart: Record<string, string[]> | undefined;
  /** What the child had resolved after each start (one child for every case). */
  const run = () => {
    if (loadedByStart) return loadedByStart;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', PROGRAM], {
      cwd: ROOT,
      env: childEnv({ TEST_DATA_DIR: dataDir }),
      encoding: 'utf8',
    });
    expect(child.status, child.stderr).toBe(0);
    loadedByStart = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Record<string, string[]>;
    return loadedByStart;
  };

  it('a web process with no channel or provider enabled loads no platform or provider SDK; enabling Slack and OpenAI loads theirs', () => {
    const loaded = run();
    // The recorder sees the process's real dependencies...
    expect(loaded.nothing!.some((url) => url.includes('/node_modules/hono/'))).toBe(true);
    // ...and none of the SDKs until their channel or provider is enabled.
    expect(sdksIn(loaded.nothing!)).toEqual([]);
    expect(sdksIn(loaded['slack+openai']!)).toEqual(['@slack/web-api', '@slack/socket-mode', 'openai']);
  });

  it('drizzle-orm is loaded from its CommonJS build only, as bin/switchboard.js sets it up (its ESM build costs seconds and megabytes)', () => {
    const drizzle = run().nothing!.filter((url) => url.includes('/node_modules/drizzle-orm/'));
    expect(drizzle.length).toBeGreaterThan(0);
    expect(drizzle.filter((url) => !url.endsWith('.cjs'))).toEqual([]);
  });
});
