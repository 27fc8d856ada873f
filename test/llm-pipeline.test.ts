/**
 * The AI providers through the whole pipeline: a real Switchboard (PGlite, and PostgreSQL when
 * DATABASE_URL is set) whose official SDKs talk to fake Anthropic and OpenAI servers.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { runCliInProcess as runCli } from './support/cli.ts';
import { ADMIN_TOKEN, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';
import { startFakeAnthropic, type FakeLlm } from './fakes/anthropic-api.ts';
import { startFakeOpenAi } from './fakes/openai-api.ts';

const PRICES = JSON.stringify({ 'claude-test': { input: 3, output: 15 }, 'gpt-test': { input: 1, output: 2 } });

function env(anthropic: FakeLlm, openai: FakeLlm, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ANTHROPIC_API_KEY: 'k',
    ANTHROPIC_BASE_URL: anthropic.url,
    ANTHROPIC_MODEL: 'claude-test-1',
    OPENAI_API_KEY: 'k',
    OPENAI_BASE_URL: openai.url,
    OPENAI_MODEL: 'gpt-test-1',
    LLM_PRICES: PRICES,
    LLM_MAX_RETRIES: '1',
    RATE_LIMIT_BURST: '1000',
    ...extra,
  };
}

type SseEvent = { event: string; data: any };

/** Reads a server-sent event stream to its end; `onEvent` sees each event as it arrives. */
async function readSse(res: Response, onEvent: (e: SseEvent) => void = () => {}): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
      const data = frame
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      const e = { event, data: JSON.parse(data) };
      events.push(e);
      onEvent(e);
    }
  }
  return events;
}

describe.each(databaseKinds)('AI providers through the pipeline on %s', (kind) => {
  let anthropic: FakeLlm;
  let openai: FakeLlm;
  let sb: TestSwitchboard;
  beforeAll(async () => {
    [anthropic, openai] = await Promise.all([startFakeAnthropic(), startFakeOpenAi()]);
    sb = await startTestSwitchboard(kind, env(anthropic, openai, { LLM_BREAKER_THRESHOLD: '2' }));
  });
  afterAll(async () => {
    await sb?.close();
    await Promise.all([anthropic?.close(), openai?.close()]);
  });
  beforeEach(() => {
    anthropic.reset();
    openai.reset();
  });

  it('records provider, model, tokens from the SDK usage, cost from the price table, latency and prompt hash', async () => {
    const res = await sb.api('POST', '/api/messages?wait=1', { text: 'how do we deploy billing?', user_id: 'acct-1' });
    expect(res.body.status).toBe('succeeded');
    const [answered] = anthropic.answers;
    expect(res.body.reply.text).toBe(answered!.text);
    const execution = (await sb.api('GET', `/api/executions/${res.body.execution_id}`)).body;
    expect(execution).toMatchObject({
      provider: 'anthropic',
      model: 'claude-test-1',
      input_tokens: answered!.inputTokens,
      output_tokens: answered!.outputTokens,
    });
    expect(execution.cost_usd).toBeCloseTo((answered!.inputTokens * 3 + answered!.outputTokens * 15) / 1_000_000, 6);
    expect(execution.cost_usd).toBeGreaterThan(0);
    expect(execution.prompt_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(execution.latency_ms).toBeGreaterThanOrEqual(0);
    expect(execution.reply.data.llm).toMatchObject({ provider: 'anthropic', model: 'claude-test-1', promptVersion: 'ask-v1', streamed: true, fallbacks: [] });
    expect(anthropic.requests[0]!.body).toMatchObject({ model: 'claude-test-1', stream: true, system: expect.stringContaining('<untrusted>') });
  });

  it('sends the earlier turns of the conversation to the model, delimited as untrusted', async () => {
    await sb.api('POST', '/api/messages?wait=1', {
      text: 'The billing deploy failed because the migration timed out.',
      user_id: 'alice',
      conversation_id: 'hist-1',
    });
    await sb.api('POST', '/api/messages?wait=1', { text: 'We rolled back and will retry tonight.', user_id: 'bob', conversation_id: 'hist-1' });
    await sb.api('POST', '/api/messages?wait=1', { text: 'what did we decide about billing?', user_id: 'carol', conversation_id: 'hist-1' });
    expect(anthropic.requests).toHaveLength(3);
    const content: string = anthropic.requests[2]!.body.messages[0].content;
    expect(content).toMatch(/<untrusted source="conversation">[\s\S]*alice: The billing deploy failed because the migration timed out\.[\s\S]*<\/untrusted>/);
    expect(content).toContain('bob: We rolled back and will retry tonight.');
    expect(content).toContain(`switchboard: ${anthropic.answers[0]!.text}`);
    expect(content).toContain('<untrusted source="question">\nwhat did we decide about billing?\n</untrusted>');
  });

  it('when anthropic keeps failing, openai answers and the execution says what was tried', async () => {
    anthropic.script({ kind: 'status', status: 500 }, { kind: 'status', status: 529 });
    const res = await sb.api('POST', '/api/messages?wait=1', { text: 'is the queue healthy?', user_id: 'acct-2' });
    expect(anthropic.requests).toHaveLength(2); // the first attempt and one retry (LLM_MAX_RETRIES=1)
    expect(res.body.reply.text).toBe(openai.answers[0]!.text);
    const execution = (await sb.api('GET', `/api/executions/${res.body.execution_id}`)).body;
    expect(execution).toMatchObject({ provider: 'openai', model: 'gpt-test-1', output_tokens: openai.answers[0]!.outputTokens });
    expect(execution.cost_usd).toBeCloseTo((openai.answers[0]!.inputTokens * 1 + openai.answers[0]!.outputTokens * 2) / 1_000_000, 6);
    expect(execution.reply.data.llm.fallbacks).toEqual([{ provider: 'anthropic', error: expect.stringMatching(/^529 overloaded_error/) }]);
  });

  it('streams deltas to the SSE endpoint before the final text, and stores the final text once', async () => {
    const release = anthropic.hold(); // the fake sends one piece, then waits until the stream is being watched
    const posted = await sb.api('POST', '/api/messages', { text: 'tell me about the release train', user_id: 'acct-3', conversation_id: 'stream-1' });
    const id = posted.body.execution_id;
    const res = await sb.app.request(`/api/executions/${id}/stream`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await readSse(res, (e) => e.event === 'delta' && release());

    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    const deltas = events.slice(0, -1);
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    expect(deltas.every((e) => e.event === 'delta')).toBe(true);
    for (let i = 1; i < deltas.length; i++) expect(deltas[i]!.data.text.startsWith(deltas[i - 1]!.data.text)).toBe(true);
    expect(deltas.at(-1)!.data.text).toBe(anthropic.answers[0]!.text);
    expect(done.data).toMatchObject({ execution_id: id, status: 'succeeded', reply: { text: anthropic.answers[0]!.text } });

    const conversation = await sb.api('GET', `/api/conversations/${posted.body.conversation_id}`);
    const answers = conversation.body.messages.filter((m: any) => m.role === 'assistant');
    expect(answers).toEqual([expect.objectContaining({ text: anthropic.answers[0]!.text, execution_id: id })]);
  });

  it('the stream of a finished execution is just its final reply; an unknown one is 404', async () => {
    const res = await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'acct-4' });
    const events = await readSse(
      await sb.app.request(`/api/executions/${res.body.execution_id}/stream`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
    );
    expect(events).toEqual([
      { event: 'done', data: expect.objectContaining({ status: 'succeeded', reply: expect.objectContaining({ text: expect.stringMatching(/summarize/) }) }) },
    ]);
    expect((await sb.api('GET', '/api/executions/00000000-0000-0000-0000-000000000000/stream')).status).toBe(404);
  });

  it('GET /api/usage reports tokens and cost by day, agent, provider and tenant', async () => {
    const usage = await sb.api('GET', '/api/usage?days=1&group=provider,agent');
    expect(usage.status).toBe(200);
    const executions = (await sb.api('GET', '/api/executions?limit=500')).body.executions.filter((e: any) => e.provider !== null);
    const sum = (key: string) => executions.reduce((n: number, e: any) => n + (e[key] ?? 0), 0);
    expect(usage.body.totals).toMatchObject({ executions: executions.length, input_tokens: sum('input_tokens'), output_tokens: sum('output_tokens') });
    expect(usage.body.totals.cost_usd).toBeCloseTo(sum('cost_usd'), 6);
    expect(usage.body.by_day).toEqual([expect.objectContaining({ day: new Date().toISOString().slice(0, 10), executions: executions.length })]);
    expect(usage.body.by_provider.map((r: any) => r.provider)).toEqual(['anthropic', 'openai']);
    expect(usage.body.by_agent).toEqual([expect.objectContaining({ agent: 'ask', executions: executions.length })]);
    expect(usage.body.by_tenant).toEqual([expect.objectContaining({ tenant: 'web' })]);
    expect(usage.body.rows).toContainEqual(expect.objectContaining({ provider: 'openai', agent: 'ask', executions: 1 }));
    expect((await sb.api('GET', '/api/usage?group=colour')).body.error.code).toBe('invalid_request');
    expect((await sb.api('GET', '/api/usage?days=0')).status).toBe(400);
  });

  // Last in this suite: it leaves the anthropic breaker open.
  it('a dead provider opens its breaker and is skipped; /readyz, /metrics and status show it', async () => {
    anthropic.fallback = { kind: 'status', status: 500 };
    for (const text of ['first question', 'second question']) await sb.api('POST', '/api/messages?wait=1', { text, user_id: 'acct-5' });
    expect(anthropic.requests).toHaveLength(4); // two requests, each tried twice, then the breaker opens
    const third = await sb.api('POST', '/api/messages?wait=1', { text: 'third question', user_id: 'acct-5' });
    expect(anthropic.requests).toHaveLength(4);
    expect(third.body.reply.data.llm).toMatchObject({
      provider: 'openai',
      fallbacks: [{ provider: 'anthropic', error: expect.stringMatching(/^skipped: circuit open/) }],
    });

    const ready = (await (await sb.app.request('/readyz')).json()) as any;
    expect(ready.checks.providers).toEqual([
      { name: 'anthropic', state: 'open', lastError: '500 api_error: fake anthropic error 500' },
      { name: 'openai', state: 'closed' },
      { name: 'offline', state: 'closed' },
    ]);
    const metrics = await (await sb.app.request('/metrics')).text();
    expect(metrics).toMatch(/switchboard_llm_provider_state\{provider="anthropic"\} 2/);
    expect(metrics).toMatch(/switchboard_llm_provider_state\{provider="openai"\} 0/);
    expect(metrics).toMatch(/switchboard_llm_calls_total\{provider="anthropic",outcome="skipped"\} 1/);
    // Why: two failures from the 500s, then one skip on the open breaker.
    expect(metrics).toMatch(/switchboard_llm_errors_total\{provider="anthropic",kind="server"\} 2/);
    expect(metrics).toMatch(/switchboard_llm_errors_total\{provider="anthropic",kind="circuit_open"\} 1/);
    expect(metrics).toMatch(/switchboard_llm_retries_total\{provider="anthropic"\} [1-9]/);
    expect(metrics).toMatch(/switchboard_llm_tokens_total\{provider="openai",direction="output"\} [1-9]/);
    const status = await sb.api('POST', '/api/messages?wait=1', { text: 'status', user_id: 'acct-5' });
    expect(status.body.reply.text).toContain('Providers: anthropic open (last error: 500 api_error: fake anthropic error 500), openai closed, offline closed');
  });
});

describe.each(databaseKinds)('daily budgets on %s', (kind) => {
  let anthropic: FakeLlm;
  let openai: FakeLlm;
  let sb: TestSwitchboard;
  beforeAll(async () => {
    [anthropic, openai] = await Promise.all([startFakeAnthropic(), startFakeOpenAi()]);
    // One answer costs a few hundred tokens (the system prompt alone is ~150): the second is over.
    sb = await startTestSwitchboard(kind, env(anthropic, openai, { LLM_DAILY_TOKEN_BUDGET_USER: '100' }));
  });
  afterAll(async () => {
    await sb?.close();
    await Promise.all([anthropic?.close(), openai?.close()]);
  });

  it('over the daily budget a user gets the offline answer saying so, and no provider is called', async () => {
    const first = await sb.api('POST', '/api/messages?wait=1', { text: 'why did the billing deploy fail?', user_id: 'spender', conversation_id: 'b1' });
    expect(first.body.reply.text).toBe(anthropic.answers[0]!.text);
    const calls = anthropic.requests.length + openai.requests.length;

    const second = await sb.api('POST', '/api/messages?wait=1', { text: 'and what about the billing rollback?', user_id: 'spender', conversation_id: 'b1' });
    expect(anthropic.requests.length + openai.requests.length).toBe(calls);
    expect(second.body.reply.text).toMatch(
      /Note: you have used [\d,]+ of your 100 daily AI tokens, so this answer comes from Switchboard's built-in offline mode and no AI provider was called/,
    );
    expect(second.body.reply.text).toContain('why did the billing deploy fail?'); // offline still answers from the history
    const execution = (await sb.api('GET', `/api/executions/${second.body.execution_id}`)).body;
    expect(execution).toMatchObject({ status: 'succeeded', provider: 'offline', cost_usd: 0 });
    expect(execution.reply.data.llm.offlineReason).toBe('budget');

    const other = await sb.api('POST', '/api/messages?wait=1', { text: 'hello there', user_id: 'frugal' });
    expect(other.body.reply.text).toBe(anthropic.answers[1]!.text);
  });

  it('agents that use no model are not held to the budget', async () => {
    const res = await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'spender' });
    expect(res.body.reply.text).toMatch(/summarize/);
    expect(res.body.reply.data?.llm).toBeUndefined();
  });

  it('the CLI usage verb reports by day, agent, provider and tenant', async () => {
    await sb.stop(); // the embedded database allows one process at a time
    const { code, output } = await runCli(['usage', '--days', '2'], { ...sb.database.env, ADMIN_TOKEN, LOG_LEVEL: 'error' });
    expect(code).toBe(0);
    expect(output).toMatch(/^total\s+3\s+/m); // two answers from anthropic, one offline
    expect(output).toMatch(/^provider\s+anthropic\s+2\s+\d+\s+\d+\s+\$0\.\d{4}/m);
    expect(output).toMatch(/^provider\s+offline\s+1\s/m);
    expect(output).toMatch(/^agent\s+ask\s+3\s/m);
    expect(output).toMatch(/^tenant\s+web\s+3\s/m);
    expect(output).toMatch(new RegExp(`^day\\s+${new Date().toISOString().slice(0, 10)}\\s+3\\s`, 'm'));
  });
});
