/**
 * Providers, resilience and the fallback chain, driven through the real Anthropic and OpenAI SDKs
 * against fake servers that speak their wire formats. No database here; see llm-pipeline.test.ts.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.ts';
import {
  costOf,
  createBudget,
  createChain,
  createLiveReplies,
  createLlmChain,
  createOfflineProvider,
  createProviders,
  DEFAULT_PRICES,
  fitHistory,
  priceFor,
  type LlmEvent,
  type ResilienceOptions,
} from '../src/llm/index.ts';
import { createAnthropicProvider } from '../src/llm/providers/anthropic.ts';
import { createOpenAiProvider } from '../src/llm/providers/openai.ts';
import type { LlmDelta, LlmProvider, LlmRequest, Logger } from '../src/ports.ts';
import type { HistoryMessage } from '../src/types.ts';
import { startFakeAnthropic, type FakeLlm } from './fakes/anthropic-api.ts';
import { startFakeOpenAi } from './fakes/openai-api.ts';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const request: LlmRequest = {
  agent: 'ask',
  system: 'You are a test assistant.',
  promptVersion: 'ask-v9',
  messages: [
    { role: 'user', content: 'How do we deploy billing?' },
    { role: 'assistant', content: 'With the deploy script.' },
    { role: 'user', content: 'And where is it?' },
  ],
  maxTokens: 300,
  offline: { question: 'And where is it?', history: [], commands: [] },
};

// Milliseconds instead of seconds, so retries and fallbacks run fast; never asserted as speeds.
const FAST: Partial<ResilienceOptions> = { timeoutMs: 2000, maxRetries: 2, baseBackoffMs: 1, maxBackoffMs: 4, breakerThreshold: 3, cooldownMs: 30_000 };

let anthropic: FakeLlm;
let openai: FakeLlm;
beforeAll(async () => {
  [anthropic, openai] = await Promise.all([startFakeAnthropic(), startFakeOpenAi()]);
});
afterAll(async () => {
  await Promise.all([anthropic?.close(), openai?.close()]);
});
beforeEach(() => {
  anthropic.reset();
  openai.reset();
});

const anthropicProvider = (model = 'claude-test-1') => createAnthropicProvider({ apiKey: 'k', baseUrl: anthropic.url, model, timeoutMs: 2000 });
const openaiProvider = (model = 'gpt-test-1') => createOpenAiProvider({ apiKey: 'k', baseUrl: openai.url, model, timeoutMs: 2000 });

function chain(opts: { resilience?: Partial<ResilienceOptions>; deadlineMs?: number; providers?: LlmProvider[] } = {}) {
  const events: LlmEvent[] = [];
  const c = createChain(opts.providers ?? [anthropicProvider(), openaiProvider(), createOfflineProvider()], {
    logger: silent,
    resilience: { ...FAST, ...opts.resilience },
    deadlineMs: opts.deadlineMs,
    onEvent: (e) => events.push(e),
  });
  return { chain: c, events };
}

describe('providers through the real SDKs', () => {
  it('anthropic sends system, history, model and max_tokens to the Messages API and reads usage from the answer', async () => {
    const result = await anthropicProvider().complete(request);
    const [sent] = anthropic.requests;
    expect(sent!.body).toEqual({ model: 'claude-test-1', max_tokens: 300, system: 'You are a test assistant.', messages: request.messages });
    const [answered] = anthropic.answers;
    expect(result).toEqual({ text: answered!.text, model: 'claude-test-1', inputTokens: answered!.inputTokens, outputTokens: answered!.outputTokens });
    expect(result.outputTokens).toBeGreaterThan(1);
  });

  it('anthropic streams text deltas in order, with usage from message_start and message_delta', async () => {
    const deltas: string[] = [];
    const result = await anthropicProvider().stream!(request, (d) => deltas.push(d));
    const [answered] = anthropic.answers;
    expect(anthropic.requests[0]!.body.stream).toBe(true);
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe(answered!.text);
    expect(result).toMatchObject({ text: answered!.text, inputTokens: answered!.inputTokens, outputTokens: answered!.outputTokens });
  });

  it('openai puts the system prompt first, and a stream asks for and reads the usage chunk', async () => {
    const whole = await openaiProvider().complete(request);
    expect(openai.requests[0]!.body.messages).toEqual([{ role: 'system', content: 'You are a test assistant.' }, ...request.messages]);
    expect(openai.requests[0]!.headers.authorization).toBe('Bearer k');
    expect(whole).toMatchObject({ model: 'gpt-test-1', inputTokens: openai.answers[0]!.inputTokens, outputTokens: openai.answers[0]!.outputTokens });

    const deltas: string[] = [];
    const streamed = await openaiProvider().stream!(request, (d) => deltas.push(d));
    expect(openai.requests[1]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(deltas.join('')).toBe(streamed.text);
    expect(streamed.outputTokens).toBe(openai.answers[1]!.outputTokens);
    expect(streamed.inputTokens).toBeGreaterThan(0);
  });

  it('the SDKs do not retry on their own: one 500 is one request', async () => {
    anthropic.script({ kind: 'status', status: 500 });
    await expect(anthropicProvider().complete(request)).rejects.toMatchObject({ kind: 'server', status: 500 });
    expect(anthropic.requests).toHaveLength(1);
  });
});

describe('resilience: retries, timeouts, fallback', () => {
  it('a 429 is retried after at least the retry-after the API asked for', async () => {
    anthropic.script({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const { chain: c, events } = chain();
    const result = await c.complete(request);
    expect(result.usage.provider).toBe('anthropic');
    expect(anthropic.requests).toHaveLength(2);
    expect(events).toContainEqual(expect.objectContaining({ type: 'retry', provider: 'anthropic', attempt: 1, delayMs: expect.any(Number) }));
    expect((events.find((e) => e.type === 'retry') as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(1000);
    expect(anthropic.requests[1]!.at - anthropic.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it("openai's retry-after-ms is honoured too", async () => {
    openai.script({ kind: 'status', status: 429, headers: { 'retry-after-ms': '40' } });
    const { chain: c, events } = chain({ providers: [openaiProvider(), createOfflineProvider()] });
    expect((await c.complete(request)).usage.provider).toBe('openai');
    expect((events.find((e) => e.type === 'retry') as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(40);
  });

  it('529 overloaded and 500 are retried with backoff until an attempt succeeds', async () => {
    anthropic.script({ kind: 'status', status: 529 }, { kind: 'status', status: 500 });
    const { chain: c, events } = chain();
    const result = await c.complete(request);
    expect(result.usage).toMatchObject({ provider: 'anthropic', model: 'claude-test-1' });
    expect(anthropic.requests).toHaveLength(3);
    expect(openai.requests).toHaveLength(0);
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { error: string }).error)).toEqual([
      expect.stringMatching(/^529 overloaded_error/),
      expect.stringMatching(/^500 api_error/),
    ]);
  });

  it('a 400 is not retried, falls back, and does not count against the provider', async () => {
    anthropic.script({ kind: 'status', status: 400, message: 'prompt is too long' });
    const { chain: c } = chain({ resilience: { breakerThreshold: 1 } });
    const result = await c.complete(request);
    expect(anthropic.requests).toHaveLength(1);
    expect(result.usage.provider).toBe('openai');
    expect(result.usage.trace?.fallbacks).toEqual([{ provider: 'anthropic', error: '400 invalid_request_error: prompt is too long' }]);
    expect(c.health()[0]).toEqual({ name: 'anthropic', state: 'closed' });
  });

  it('a retry-after beyond the limit is not waited for: the next provider answers', async () => {
    anthropic.script({ kind: 'status', status: 429, headers: { 'retry-after': '60' } });
    const { chain: c } = chain({ resilience: { maxRetryAfterMs: 5000 } });
    const result = await c.complete(request);
    expect(anthropic.requests).toHaveLength(1);
    expect(result.usage.provider).toBe('openai');
  });

  it('a provider that hangs times out, is not retried, and the chain falls back', async () => {
    anthropic.script({ kind: 'hang' });
    const { chain: c } = chain({ resilience: { timeoutMs: 300 } });
    const result = await c.complete(request);
    expect(anthropic.requests).toHaveLength(1);
    expect(result.usage.provider).toBe('openai');
    expect(result.usage.trace?.fallbacks).toEqual([{ provider: 'anthropic', error: 'no answer within 300 ms' }]);
  });

  it('a stream may take longer than the timeout while text keeps coming, but not stall for it', async () => {
    anthropic.chunkDelayMs = 60; // 11 pieces: well over the 300 ms timeout in all, never 300 ms without text
    const { chain: c } = chain({ resilience: { timeoutMs: 300 } });
    const steady = await c.stream!(request, () => {});
    expect(steady.usage.provider).toBe('anthropic');
    expect(steady.text).toBe(anthropic.answers[0]!.text);

    anthropic.chunkDelayMs = 0;
    const release = anthropic.hold(); // one piece, then silence
    try {
      const stalled = await c.stream!(request, () => {});
      expect(stalled.usage.provider).toBe('openai');
      expect(stalled.usage.trace!.fallbacks).toEqual([{ provider: 'anthropic', error: 'no text within 300 ms' }]);
    } finally {
      release();
    }
  });

  it('an overloaded error in the middle of a stream restarts the answer, and the final text is whole', async () => {
    anthropic.script({ kind: 'stream-error', afterChunks: 3, type: 'overloaded_error' });
    const deltas: LlmDelta[] = [];
    const { chain: c } = chain();
    const result = await c.stream!(request, (d) => deltas.push(d));
    expect(anthropic.requests).toHaveLength(2);
    const restart = deltas.findIndex((d, i) => i > 0 && d.text === d.delta);
    expect(restart).toBe(3); // three pieces of the failed attempt, then the text starts over
    expect(deltas.at(-1)!.text).toBe(result.text);
    expect(result.text).toBe(anthropic.answers[0]!.text);
    expect(result.usage.trace).toMatchObject({ provider: 'anthropic', streamed: true, fallbacks: [] });
  });

  it('a connection cut mid-stream is retried like a network error', async () => {
    anthropic.script({ kind: 'cut', afterChunks: 2 });
    const { chain: c } = chain();
    const result = await c.stream!(request, () => {});
    expect(anthropic.requests).toHaveLength(2);
    expect(result.text).toBe(anthropic.answers[0]!.text);
  });

  it('falls back in chain order, and offline answers last saying the AI providers are unavailable', async () => {
    anthropic.fallback = { kind: 'status', status: 500 };
    openai.fallback = { kind: 'status', status: 503 };
    const { chain: c, events } = chain({ resilience: { maxRetries: 0 } });
    const result = await c.complete(request);
    expect(result.usage).toMatchObject({ provider: 'offline', costUsd: 0 });
    expect(result.usage.trace).toMatchObject({ offlineReason: 'unavailable', promptVersion: 'ask-v9' });
    expect(result.usage.trace!.fallbacks.map((f) => f.provider)).toEqual(['anthropic', 'openai']);
    expect(result.text).toContain('the AI providers are unavailable right now (anthropic: 500 api_error');
    expect(result.text).toContain('openai: 503 server_error');
    expect(result.text).not.toContain('set ANTHROPIC_API_KEY');
    const calls = events.filter((e) => e.type === 'call').map((e) => `${e.provider}:${(e as { outcome: string }).outcome}`);
    expect(calls).toEqual(['anthropic:failure', 'openai:failure', 'offline:success']);
  });

  it('out of time for the answer, the remaining providers are skipped and offline answers', async () => {
    anthropic.script({ kind: 'hang' });
    const { chain: c } = chain({ deadlineMs: 300, resilience: { timeoutMs: 10_000 } });
    const result = await c.complete(request);
    expect(openai.requests).toHaveLength(0);
    expect(result.usage.provider).toBe('offline');
    expect(result.usage.trace!.fallbacks).toEqual([
      { provider: 'anthropic', error: 'the time for this answer ran out' },
      { provider: 'openai', error: 'skipped: the time for this answer ran out' },
    ]);
  });
});

describe('the circuit breaker', () => {
  afterEach(() => vi.useRealTimers());

  it('opens after repeated failures, skips the provider, probes it half-open after the cooldown, and closes when the probe succeeds', async () => {
    // Cockatiel and health read Date.now; faking only Date moves the cooldown without waiting for it.
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    anthropic.fallback = { kind: 'status', status: 500 };
    const { chain: c, events } = chain({ resilience: { maxRetries: 0, breakerThreshold: 2, cooldownMs: 10_000 } });

    await c.complete(request);
    expect(c.health()[0]).toEqual({ name: 'anthropic', state: 'closed', lastError: '500 api_error: fake anthropic error 500' });
    await c.complete(request);
    expect(c.health()[0]).toMatchObject({ name: 'anthropic', state: 'open' });
    expect(events).toContainEqual({ type: 'breaker', provider: 'anthropic', state: 'open', error: '500 api_error: fake anthropic error 500' });

    const skipped = await c.complete(request);
    expect(anthropic.requests).toHaveLength(2); // not called while open
    expect(skipped.usage.provider).toBe('openai');
    expect(skipped.usage.trace!.fallbacks[0]!.error).toMatch(/^skipped: circuit open after repeated failures \(last: 500 api_error.*\); next probe in 10 s$/);

    vi.setSystemTime(start + 10_001);
    expect(c.health()[0]!.state).toBe('half-open');
    await c.complete(request); // the probe fails: open again
    expect(anthropic.requests).toHaveLength(3);
    expect(c.health()[0]!.state).toBe('open');

    vi.setSystemTime(start + 20_002);
    anthropic.fallback = { kind: 'answer' };
    const recovered = await c.complete(request);
    expect(recovered.usage.provider).toBe('anthropic');
    expect(c.health()[0]).toEqual({ name: 'anthropic', state: 'closed' });
    expect(events.filter((e) => e.type === 'breaker').map((e) => (e as { state: string }).state)).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });
});

describe('accounting', () => {
  it('prices by exact model, then the longest model prefix, then the provider', () => {
    expect(priceFor(DEFAULT_PRICES, 'openai', 'gpt-4o-mini-2024-07-18')).toEqual({ inputPerMTok: 0.15, outputPerMTok: 0.6 });
    expect(priceFor(DEFAULT_PRICES, 'anthropic', 'claude-sonnet-4-5-20250929')).toEqual({ inputPerMTok: 3, outputPerMTok: 15 });
    expect(priceFor({ anthropic: { inputPerMTok: 1, outputPerMTok: 1 } }, 'anthropic', 'claude-new')).toEqual({ inputPerMTok: 1, outputPerMTok: 1 });
    expect(costOf(DEFAULT_PRICES, 'anthropic', { model: 'unknown-model', inputTokens: 1000, outputTokens: 1000 })).toBe(0);
    expect(costOf(DEFAULT_PRICES, 'anthropic', { model: 'claude-sonnet-4-5', inputTokens: 1000, outputTokens: 100 })).toBe(0.0045);
  });

  it('a chain built from config takes keys, base URLs, models and LLM_PRICES, and prices the usage the SDK reported', async () => {
    const config = loadConfig({
      ANTHROPIC_API_KEY: 'k',
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_MODEL: 'claude-priced-1',
      LLM_PRICES: JSON.stringify({ 'claude-priced': { input: 3, output: 15 } }),
    });
    const c = await createLlmChain(config.llm, { logger: silent });
    const result = await c.complete(request);
    const [answered] = anthropic.answers;
    expect(result.usage).toMatchObject({
      provider: 'anthropic',
      model: 'claude-priced-1',
      inputTokens: answered!.inputTokens,
      outputTokens: answered!.outputTokens,
    });
    expect(result.usage.costUsd).toBeCloseTo((answered!.inputTokens * 3 + answered!.outputTokens * 15) / 1_000_000, 9);
    expect(result.usage.promptHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('LLM_PROVIDERS sets the order, and offline is always last even when left out', async () => {
    const config = loadConfig({ ANTHROPIC_API_KEY: 'k', OPENAI_API_KEY: 'k', LLM_PROVIDERS: 'openai,anthropic' });
    expect((await createProviders(config.llm)).map((p) => p.name)).toEqual(['openai', 'anthropic', 'offline']);
    expect((await createProviders(loadConfig({ OPENAI_API_KEY: 'k' }).llm)).map((p) => p.name)).toEqual(['openai', 'offline']);
  });

  it('reads the LLM settings with defaults and explains a bad price table', () => {
    const { llm } = loadConfig({ LLM_TIMEOUT_SECONDS: '5', LLM_DAILY_TOKEN_BUDGET_TENANT: '100000', LLM_DAILY_COST_BUDGET_USER_USD: '0.5' });
    expect(llm).toMatchObject({
      timeoutSeconds: 5,
      maxRetries: 2,
      breaker: { threshold: 3, cooldownSeconds: 30 },
      budgets: { tenantTokens: 100_000, userTokens: 0, tenantCostUsd: 0, userCostUsd: 0.5 },
      prices: {},
    });
    expect(() => loadConfig({ LLM_PRICES: '{"gpt-x": 3}' })).toThrow(/LLM_PRICES/);
    expect(() => loadConfig({ LLM_PRICES: 'not json' })).toThrow(/US dollars per million input\/output tokens/);
  });
});

describe('budgets', () => {
  const limits = { tenantTokens: 1000, userTokens: 100, tenantCostUsd: 1, userCostUsd: 0 };
  const scope = { tenantId: 'T1', channel: 'slack', userId: 'U1' };

  it('refuses once the tenant or the user reached a limit, for the UTC day', async () => {
    const reads: { since: Date }[] = [];
    let used = { tenant: { tokens: 10, costUsd: 0.01 }, user: { tokens: 10, costUsd: 0.01 } };
    const budget = createBudget({ limits, read: async (s) => (reads.push(s), used), tenant: () => 'workspace', now: () => new Date('2025-03-04T22:30:00Z') });
    expect(await budget.check(scope)).toBeUndefined();
    expect(reads[0]).toMatchObject({ ...scope, since: new Date('2025-03-04T00:00:00Z') });
    used = { tenant: { tokens: 1000, costUsd: 0 }, user: { tokens: 0, costUsd: 0 } };
    expect(await budget.check(scope)).toBe('this workspace has used 1,000 of its 1,000 daily AI tokens');
    used = { tenant: { tokens: 0, costUsd: 1.5 }, user: { tokens: 0, costUsd: 0 } };
    expect(await budget.check(scope)).toBe('this workspace has spent $1.50 of its $1.00 daily AI budget');
    used = { tenant: { tokens: 0, costUsd: 0 }, user: { tokens: 150, costUsd: 99 } };
    expect(await budget.check(scope)).toBe('you have used 150 of your 100 daily AI tokens');
  });

  it('with no limits set reads nothing', async () => {
    const budget = createBudget({
      limits: { tenantTokens: 0, userTokens: 0, tenantCostUsd: 0, userCostUsd: 0 },
      read: async () => {
        throw new Error('read');
      },
      tenant: () => 'chat',
    });
    expect(budget.enabled).toBe(false);
    expect(await budget.check(scope)).toBeUndefined();
  });

  it('over budget, no provider is called and the offline answer says why, whole rather than streamed', async () => {
    const { chain: c } = chain();
    const deltas: LlmDelta[] = [];
    const result = await c.stream!(request, (d) => deltas.push(d), { overBudget: 'you have used 150 of your 100 daily AI tokens' });
    expect(anthropic.requests).toHaveLength(0);
    expect(openai.requests).toHaveLength(0);
    expect(deltas).toEqual([]);
    expect(result.usage).toMatchObject({ provider: 'offline', costUsd: 0, trace: { offlineReason: 'budget', fallbacks: [], streamed: false } });
    expect(result.text).toContain('Note: you have used 150 of your 100 daily AI tokens, so this answer comes from');
    expect(result.text).toContain('no AI provider was called');
  });
});

describe('live replies', () => {
  afterEach(() => vi.useRealTimers());

  it('edits the channel message at most once per interval, the latest text winning, and never after close', async () => {
    vi.useFakeTimers();
    const edits: string[] = [];
    const live = createLiveReplies({ logger: silent, intervalMs: 1000, editorFor: () => async (text) => void edits.push(text) });
    const stream = live.open('e1', { channel: 'slack' } as never);
    const delta = (text: string) => stream.onDelta({ provider: 'anthropic', delta: text.slice(-1), text });
    delta('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(edits).toEqual(['a']); // the first edit goes at once
    delta('ab');
    delta('abc');
    await vi.advanceTimersByTimeAsync(999);
    expect(edits).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(1);
    expect(edits).toEqual(['a', 'abc']);
    delta('abcd');
    await stream.close();
    await vi.advanceTimersByTimeAsync(5000);
    expect(edits).toEqual(['a', 'abc']); // the final reply replaces it; no late edit can overwrite that
  });

  it('a subscriber that comes late gets the text so far, then the deltas, then the end', async () => {
    const live = createLiveReplies({ logger: silent });
    const stream = live.open('e2');
    stream.onDelta({ provider: 'openai', delta: 'Hel', text: 'Hel' });
    const seen: unknown[] = [];
    const unsubscribe = live.subscribe('e2', (e) => seen.push(e));
    stream.onDelta({ provider: 'openai', delta: 'lo', text: 'Hello' });
    await stream.close();
    unsubscribe();
    expect(seen).toEqual([{ type: 'delta', delta: 'Hel', text: 'Hel' }, { type: 'delta', delta: 'lo', text: 'Hello' }, { type: 'end' }]);
  });
});

describe('history for the prompt', () => {
  const msg = (i: number, text: string): HistoryMessage => ({
    role: 'user',
    text,
    userId: `u${i % 3}`,
    at: `2025-01-01T10:${String(i % 60).padStart(2, '0')}:00.000Z`,
  });
  const line = (m: HistoryMessage) => `${m.userId}: ${m.text}`;

  it('keeps everything when it fits', () => {
    const history = [msg(1, 'short one'), msg(2, 'short two')];
    expect(fitHistory(history, 1000, line)).toEqual({ recent: history, earlierCount: 0 });
  });

  it('keeps the most recent turns verbatim and summarizes the older ones when it does not', () => {
    const billing = [
      'The billing migration locks the invoices table for an hour.',
      'Can the billing migration run at night instead?',
      'Lunch is at noon today.',
      'We should run the billing migration in the maintenance window.',
      'Who owns the billing migration rollback plan?',
      'Carol owns the rollback plan for the billing migration.',
      'The maintenance window starts at 22:00 UTC.',
      'Billing migration dry run passed on staging.',
      'Invoices table backup is done before the migration.',
      'The billing migration is scheduled for Thursday.',
    ];
    const history = [...billing.map((t, i) => msg(i, t)), ...Array.from({ length: 60 }, (_, i) => msg(i + 10, `thanks ${i}`))];
    const fitted = fitHistory(history, 300, line);
    expect(fitted.recent.at(-1)).toBe(history.at(-1));
    expect(fitted.recent.length).toBeLessThan(history.length);
    expect(fitted.earlierCount).toBe(history.length - fitted.recent.length);
    expect(fitted.earlierSummary).toContain('billing migration');
    const tokens = fitted.recent.map(line).join('\n').length / 4 + fitted.earlierSummary!.length / 4;
    expect(tokens).toBeLessThanOrEqual(300 + 20);
  });
});
