/** Deprecated models: current defaults, the tables kept in step with the SDKs, doctor's advice, one log line per model. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { runDoctor } from '../src/doctor.ts';
import { createProviders, DEFAULT_MODELS, DEPRECATED_MODELS, deprecationOf } from '../src/llm/index.ts';
import type { Logger } from '../src/ports.ts';
import { startFakeAnthropic, type FakeLlm } from './fakes/anthropic-api.ts';
import { startFakeOpenAi } from './fakes/openai-api.ts';
import { ROOT } from './support/process.ts';

const require = createRequire(import.meta.url);
const sdkRoot = (name: string) => join(ROOT, 'node_modules', name);

/** The Anthropic SDK's own table (not exported by the package, so read from its file). */
function anthropicSdkTable(): Record<string, string> {
  return require(join(sdkRoot('@anthropic-ai/sdk'), 'internal', 'data', 'deprecated-models.js')).DEPRECATED_MODELS;
}

/** The openai SDK's "Deprecated values" comment on ChatModel: model id → announced shutdown date. */
function openaiSdkTable(): Record<string, string> {
  const text = readFileSync(join(sdkRoot('openai'), 'resources', 'shared.d.ts'), 'utf8');
  const comment = text.slice(text.indexOf('Deprecated values:'), text.indexOf('export type ChatModel'));
  const table: Record<string, string> = {};
  for (const item of comment
    .replace(/\n \*\s*/g, ' ')
    .split(' - ')
    .slice(1)) {
    const date = /shutdown date: (\d{4}-\d\d-\d\d)/.exec(item)?.[1];
    if (!date) continue; // "Not a supported model ID": nothing to migrate off
    for (const [, model] of item.split(':')[0]!.matchAll(/"([^"]+)"/g)) table[model!] = date;
  }
  return table;
}

describe('deprecated models', () => {
  it("our tables are the SDKs' tables, so an SDK upgrade that deprecates a model fails here first", () => {
    expect(DEPRECATED_MODELS.anthropic).toEqual(anthropicSdkTable());
    expect(DEPRECATED_MODELS.openai).toEqual(openaiSdkTable());
  });

  it('the defaults are models neither SDK marks deprecated', () => {
    expect(loadConfig({}).llm.anthropic.model).toBe(DEFAULT_MODELS.anthropic);
    expect(loadConfig({}).llm.openai.model).toBe(DEFAULT_MODELS.openai);
    expect(DEFAULT_MODELS.anthropic in anthropicSdkTable()).toBe(false);
    expect(DEFAULT_MODELS.openai in openaiSdkTable()).toBe(false);
    // Models the SDKs name, not guesses.
    expect(readFileSync(join(sdkRoot('@anthropic-ai/sdk'), 'resources', 'messages', 'messages.d.ts'), 'utf8')).toContain(`'${DEFAULT_MODELS.anthropic}'`);
    expect(readFileSync(join(sdkRoot('openai'), 'resources', 'shared.d.ts'), 'utf8')).toContain(`'${DEFAULT_MODELS.openai}'`);
  });

  it('names the end of life and what to set instead', () => {
    expect(deprecationOf('anthropic', 'claude-sonnet-4-5')).toEqual({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      endOfLife: 'November 30th, 2026',
      instead: DEFAULT_MODELS.anthropic,
    });
    expect(deprecationOf('openai', 'gpt-4o-mini')).toMatchObject({ endOfLife: '2027-01-14', instead: DEFAULT_MODELS.openai });
    expect(deprecationOf('anthropic', DEFAULT_MODELS.anthropic)).toBeUndefined();
    expect(deprecationOf('offline', 'offline')).toBeUndefined();
  });
});

// Doctor opens the database: a fresh PGlite directory takes a while on a busy machine.
describe('doctor on LLM providers', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-doctor-'));
  // Doctor asks each provider for its model list: the fakes answer, so the key `k` is accepted.
  let fakes: { anthropic: FakeLlm; openai: FakeLlm } | undefined;
  beforeAll(async () => {
    fakes = { anthropic: await startFakeAnthropic(), openai: await startFakeOpenAi() };
  });
  afterAll(async () => {
    await fakes?.anthropic.close();
    await fakes?.openai.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function doctor(env: Record<string, string>): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
    try {
      return {
        code: await runDoctor(loadConfig({ DATA_DIR: dir, ANTHROPIC_BASE_URL: fakes!.anthropic.url, OPENAI_BASE_URL: fakes!.openai.url, ...env })),
        lines,
      };
    } finally {
      log.mockRestore();
    }
  }

  it('shows offline as the last link of the chain, also when LLM_PROVIDERS leaves it out', async () => {
    const { lines } = await doctor({ ANTHROPIC_API_KEY: 'k', OPENAI_API_KEY: 'k', LLM_PROVIDERS: 'openai,anthropic' });
    expect(lines).toContain('info  LLM providers: openai → anthropic → offline');
    expect(lines.some((l) => l.startsWith('WARN'))).toBe(false);
  });

  it('warns about a deprecated model and says what to set instead, without failing the check', async () => {
    const { code, lines } = await doctor({ ANTHROPIC_API_KEY: 'k', ANTHROPIC_MODEL: 'claude-sonnet-4-5', OPENAI_API_KEY: 'k', OPENAI_MODEL: 'gpt-4o-mini' });
    expect(lines).toContain(
      `WARN  ANTHROPIC_MODEL=claude-sonnet-4-5 is deprecated by anthropic (end of life November 30th, 2026); set ANTHROPIC_MODEL=${DEFAULT_MODELS.anthropic} or unset it for that default`,
    );
    expect(lines.filter((l) => l.startsWith('WARN')).join('\n')).toContain(
      `OPENAI_MODEL=gpt-4o-mini is deprecated by openai (end of life 2027-01-14); set OPENAI_MODEL=${DEFAULT_MODELS.openai}`,
    );
    expect(code).toBe(0);
  });
});

describe("the Anthropic SDK's deprecation warning", () => {
  let anthropic: FakeLlm;
  beforeAll(async () => {
    anthropic = await startFakeAnthropic();
  });
  afterAll(async () => anthropic?.close());

  it('goes through our logger once per process and model, never to the console', async () => {
    const warnings: { obj: unknown; msg?: string }[] = [];
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (obj, msg) => void warnings.push({ obj, msg }) };
    const consoleWarn = vi.spyOn(console, 'warn');
    try {
      const llm = loadConfig({ ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: anthropic.url, ANTHROPIC_MODEL: 'claude-sonnet-4-5-20250929' }).llm;
      const request = {
        agent: 'ask' as const,
        system: 's',
        promptVersion: 'v',
        messages: [{ role: 'user' as const, content: 'hi' }],
        offline: { question: 'hi', history: [], commands: [] },
      };
      // Two chains, as a server and a CLI verb in one process would build: still one line.
      for (const [provider] of [await createProviders(llm, logger), await createProviders(llm, logger)]) {
        await provider!.complete(request);
        await provider!.stream!(request, () => {});
      }
      expect(anthropic.requests).toHaveLength(4);
      expect(consoleWarn).not.toHaveBeenCalled();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toContain('ANTHROPIC_MODEL=claude-sonnet-4-5-20250929 is deprecated');
      expect(warnings[0]!.obj).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', sdk: expect.stringContaining('end-of-life') });
    } finally {
      consoleWarn.mockRestore();
    }
  });
});
