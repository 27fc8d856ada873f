import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../src/ports.ts';
import { createAgents } from '../src/agents/index.ts';
import { databaseKinds } from './support/databases.ts';
import { ADMIN_TOKEN, signedHook, startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';

const flaky: Agent = {
  name: 'flaky',
  description: 'fails every time (test agent)',
  usesLlm: false,
  async run() {
    throw new Error('upstream exploded');
  },
};

describe.each(databaseKinds)('pipeline on %s', (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind, { MAX_ATTEMPTS: '2', RATE_LIMIT_BURST: '1000' }, { agents: [...createAgents(), flaky] });
  });
  afterAll(async () => sb?.close());

  it('answers help over POST /api/messages?wait=1 and records a succeeded execution', async () => {
    const res = await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'u1' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('succeeded');
    expect(res.body.reply.text).toMatch(/summarize/);
    const execution = await sb.api('GET', `/api/executions/${res.body.execution_id}`);
    expect(execution.body).toMatchObject({ agent: 'help', intent: 'help', status: 'succeeded', attempts: 1, channel: 'web' });
    expect(execution.body.latency_ms).toBeGreaterThanOrEqual(0);
    expect(execution.body.replied_at).not.toBeNull();
    expect(execution.body.delivered).toBeNull(); // the web channel sends nothing: its reply is read from the API
  });

  it('each intent runs the agent of the same name', async () => {
    for (const [text, agent] of [
      ['summarize', 'summarize'],
      ['+1', 'feedback'],
      ['what changed?', 'ask'],
    ] as const) {
      const res = await sb.api('POST', '/api/messages', { text, user_id: 'u-intent', conversation_id: `intent-${agent}` });
      const execution = await sb.api('GET', `/api/executions/${res.body.execution_id}`);
      expect(execution.body).toMatchObject({ agent, intent: agent });
    }
  });

  it('without wait answers 202 with the queued execution', async () => {
    const res = await sb.api('POST', '/api/messages', { text: 'status', user_id: 'u2' });
    expect(res.status).toBe(202);
    expect(res.body.execution_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps a conversation and feeds its history to the agents', async () => {
    await sb.api('POST', '/api/messages?wait=1', {
      text: 'The deploy of billing failed because the migration timed out.',
      user_id: 'u3',
      conversation_id: 'inc-42',
    });
    await sb.api('POST', '/api/messages?wait=1', {
      text: 'We rolled back billing and the migration will run tonight.',
      user_id: 'u4',
      conversation_id: 'inc-42',
    });
    const res = await sb.api('POST', '/api/messages?wait=1', { text: 'summarize', user_id: 'u3', conversation_id: 'inc-42' });
    expect(res.body.reply.text).toMatch(/migration/i);
    const conversation = await sb.api('GET', `/api/conversations/${res.body.conversation_id}`);
    expect(conversation.status).toBe(200);
    expect(conversation.body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
  });

  it('a client retry with the same Idempotency-Key stores nothing new', async () => {
    const first = await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'u5' }, { 'idempotency-key': 'retry-1' });
    const before = await tableCounts(sb);
    const again = await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'u5' }, { 'idempotency-key': 'retry-1' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true, execution_id: first.body.execution_id });
    expect(await tableCounts(sb)).toEqual(before);
  });

  it('concurrent duplicates of one signed hook delivery create exactly one execution', async () => {
    const request = signedHook({ text: 'status' }, { id: 'msg_parallel_1' });
    const responses = await Promise.all(Array.from({ length: 8 }, () => sb.app.request('/hooks/ci', request)));
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<any>));
    expect(responses.every((r) => r.status === 200 || r.status === 202)).toBe(true);
    expect(bodies.filter((b) => !b.duplicate)).toHaveLength(1);
    expect(new Set(bodies.map((b) => b.executions[0].id)).size).toBe(1);
  });

  it('a signed hook runs the ask agent, or the agent its payload names', async () => {
    const asked = (await (await sb.app.request('/hooks/ci', signedHook({ type: 'build.failed', text: 'why did the build fail?' }))).json()) as any;
    const named = (await (await sb.app.request('/hooks/ci', signedHook({ agent: 'status', text: 'nightly check' }))).json()) as any;
    const [a, n] = await Promise.all([sb.waiter.wait(asked.executions[0].id, 10_000), sb.waiter.wait(named.executions[0].id, 10_000)]);
    expect(a).toMatchObject({ agent: 'ask', status: 'succeeded', channel: 'hooks', tenantId: 'hook:ci' });
    expect(a!.result).toHaveProperty('text');
    expect(n).toMatchObject({ agent: 'status', status: 'succeeded' });
    expect((n!.result as any).text).toMatch(/queue/i);
  });

  it('rejects bad input with a JSON error and stores nothing', async () => {
    const before = await tableCounts(sb);
    const cases: [RequestInit & { path?: string }, number, string][] = [
      [{ ...signedHook({ text: 'x' }), headers: { ...(signedHook({ text: 'x' }).headers as any), 'webhook-signature': 'v1,AAAA' } }, 401, 'bad_signature'],
      [signedHook({ text: 'x' }, { at: new Date(Date.now() - 305_000) }), 401, 'stale_timestamp'],
      [signedHook({ text: 'x' }, { at: new Date(Date.now() + 305_000) }), 401, 'stale_timestamp'],
      [signedHook(null, { body: '{"text": nope' }), 400, 'malformed_json'],
      [signedHook({ agent: 'nobody', text: 'x' }), 400, 'unknown_agent'],
      [
        { ...signedHook({ text: 'x' }), headers: { ...(signedHook({ text: 'x' }).headers as any), 'content-type': 'text/plain' } },
        415,
        'unsupported_media_type',
      ],
      [signedHook(null, { body: JSON.stringify({ text: 'x'.repeat(1024 * 1024 + 1) }) }), 413, 'payload_too_large'],
      [{ ...signedHook({ text: 'x' }), path: '/hooks/unknown-source' }, 404, 'channel_disabled'],
      // A source nobody configured says what enables it before anything about the request itself.
      [
        {
          ...signedHook({ text: 'x' }),
          headers: { ...(signedHook({ text: 'x' }).headers as any), 'content-type': 'text/plain' },
          path: '/hooks/unknown-source',
        },
        404,
        'channel_disabled',
      ],
    ];
    for (const [init, status, code] of cases) {
      const res = await sb.app.request(init.path ?? '/hooks/ci', init);
      const body = (await res.json()) as any;
      expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
      expect(typeof body.error.message).toBe('string');
    }
    const disabled = (await (await sb.app.request('/hooks/unknown-source', signedHook({ text: 'x' }))).json()) as any;
    expect(disabled.error.message).toContain('HOOK_SECRET_UNKNOWN_SOURCE');
    expect((await sb.api('POST', '/api/messages', '{"text":')).status).toBe(400);
    expect((await sb.api('POST', '/api/messages', { text: '', user_id: 'u' })).body.error.code).toBe('invalid_request');
    expect((await sb.api('POST', '/api/messages', { text: 'hi', user_id: 'u' }, { 'content-type': 'text/plain' })).status).toBe(415);
    expect(await tableCounts(sb)).toEqual(before);
  });

  it('guards /api with the admin token', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token', 'Basic abc']) {
      const res = await sb.app.request('/api/executions', { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.code).toBe('unauthorized');
    }
  });

  it('a failing agent is retried with backoff and ends dead after the last attempt', async () => {
    const res = await sb.app.request('/hooks/ci', signedHook({ agent: 'flaky', text: 'go' }));
    const id = ((await res.json()) as any).executions[0].id;
    const row = await sb.waiter.wait(id, 20_000);
    expect(row).toMatchObject({ status: 'dead', attempts: 2, error: 'upstream exploded' });
  });

  it('replay re-runs an execution as a new one linked to the original', async () => {
    const original = await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'u6' });
    const replay = await sb.api('POST', `/api/executions/${original.body.execution_id}/replay?wait=1`);
    expect(replay.status).toBe(200);
    expect(replay.body.replay_of).toBe(original.body.execution_id);
    expect(replay.body.execution_id).not.toBe(original.body.execution_id);
    const row = await sb.api('GET', `/api/executions/${replay.body.execution_id}`);
    expect(row.body).toMatchObject({ replay_of: original.body.execution_id, status: 'succeeded', agent: 'help' });
    expect((await sb.api('POST', '/api/executions/00000000-0000-0000-0000-000000000000/replay')).status).toBe(404);
    // A bare POST (no body, no content type) is what `curl -X POST` sends.
    const bare = await sb.app.request(`/api/executions/${original.body.execution_id}/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(bare.status).toBe(202);
    // A body still has to be JSON.
    const text = await sb.app.request('/api/messages', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' },
      body: 'help',
    });
    expect(text.status).toBe(415);
  });

  it('a disabled agent answers that it is disabled, and the execution records it', async () => {
    expect((await sb.api('PATCH', '/api/agents/summarize', { enabled: false })).body.enabled).toBe(false);
    const res = await sb.api('POST', '/api/messages?wait=1', { text: 'summarize', user_id: 'u7' });
    expect(res.body.reply.text).toBe('the summarize agent is disabled');
    expect(res.body.reply.data).toEqual({ agentDisabled: true });
    const agents = await sb.api('GET', '/api/agents');
    expect(agents.body.agents.find((a: any) => a.name === 'summarize').enabled).toBe(false);
    await sb.api('PATCH', '/api/agents/summarize', { enabled: true });
    expect((await sb.api('PATCH', '/api/agents/nobody', { enabled: true })).status).toBe(404);
    expect((await sb.api('PATCH', '/api/agents/help', { enabled: 'yes' })).status).toBe(400);
  });

  it('lists executions with filters', async () => {
    const dead = await sb.api('GET', '/api/executions?status=dead&agent=flaky');
    expect(dead.body.executions.length).toBeGreaterThanOrEqual(1);
    expect(dead.body.executions.every((e: any) => e.status === 'dead' && e.agent === 'flaky')).toBe(true);
    const limited = await sb.api('GET', '/api/executions?limit=2&channel=web');
    expect(limited.body.executions).toHaveLength(2);
    expect(limited.body.executions.every((e: any) => e.channel === 'web')).toBe(true);
    expect((await sb.api('GET', '/api/executions?status=bogus')).status).toBe(400);
  });

  it('treats empty query parameters as unset, so the README form with every field blank lists everything', async () => {
    const all = await sb.api('GET', '/api/executions');
    const blank = await sb.api('GET', '/api/executions?status=&channel=&agent=&limit=');
    expect(blank.status).toBe(200);
    expect(blank.body.executions.map((e: any) => e.id)).toEqual(all.body.executions.map((e: any) => e.id));
    expect((await sb.api('GET', '/api/usage?days=&group=')).status).toBe(200);
    expect((await sb.api('GET', '/api/executions?limit=0')).status).toBe(400);
  });

  it('records feedback from the API and from "+1" text, and sums it up', async () => {
    const asked = await sb.api('POST', '/api/messages?wait=1', { text: 'what is the deploy process?', user_id: 'u8', conversation_id: 'fb' });
    const vote = await sb.api('POST', '/api/feedback', { execution_id: asked.body.execution_id, score: -1, user_id: 'u9' });
    expect(vote.status).toBe(201);
    const plusOne = await sb.api('POST', '/api/messages?wait=1', { text: '+1', user_id: 'u8', conversation_id: 'fb' });
    expect(plusOne.body.reply.text).toMatch(/thank/i);
    const summary = await sb.api('GET', '/api/feedback/summary');
    expect(summary.body.by_agent.find((r: any) => r.agent === 'ask')).toMatchObject({ up: 1, down: 1 });
    expect((await sb.api('POST', '/api/feedback', { execution_id: asked.body.execution_id, score: 5, user_id: 'u9' })).status).toBe(400);
  });

  it('rate-limits a user with 429 and Retry-After', async () => {
    const tight = await startTestSwitchboard(kind, { RATE_LIMIT_BURST: '2', RATE_LIMIT_PER_MINUTE: '1' });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push(await tight.api('POST', '/api/messages', { text: 'help', user_id: 'chatty' }));
      expect(statuses.map((s) => s.status)).toEqual([202, 202, 429]);
      expect(Number(statuses[2]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(statuses[2]!.body.error.code).toBe('rate_limited');
      expect((await tight.api('POST', '/api/messages', { text: 'help', user_id: 'someone-else' })).status).toBe(202);
    } finally {
      await tight.close();
    }
  });

  it('serves health, readiness and metrics', async () => {
    expect(await (await sb.app.request('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await sb.app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as any).checks.migrations.ok).toBe(true);
    const metrics = await (await sb.app.request('/metrics')).text();
    expect(metrics).toMatch(/switchboard_http_requests_total\{method="POST",route="\/api\/messages",status="200"\} \d+/);
    expect(metrics).toMatch(/switchboard_executions_total\{agent="help",status="succeeded"\} \d+/);
    expect(metrics).toMatch(/switchboard_executions_total\{agent="flaky",status="dead"\} 1/);
    expect(metrics).toMatch(/switchboard_queue_depth \d+/);
    expect(metrics).toMatch(/switchboard_ingest_to_reply_seconds_bucket\{le="0.1",channel="web"\} \d+/);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await sb.app.request('/nope');
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe('not_found');
  });
});
