/** The console over a log of 10,000 executions: every page and the API calls behind it still answer (no timing asserted). */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { ADMIN_TOKEN, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

const ROWS = 10_000;

describe.each(databaseKinds)('the console with 10,000 executions on %s', (kind) => {
  let sb: TestSwitchboard;
  let cookie: string;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind);
    const seed = await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'seed' });
    // Copies of one real execution, over two weeks, across agents, channels and outcomes.
    await sb.opened.handle.db.execute(sql`
      insert into executions (conversation_id, channel, tenant_id, user_id, agent, intent, args, envelope, status, attempts,
        provider, model, input_tokens, output_tokens, cost_usd, latency_ms, error, result, received_at, created_at)
      select e.conversation_id, (array['web','slack','telegram','github'])[1 + n % 4], e.tenant_id, 'user-' || (n % 50),
        (array['ask','summarize','review','help'])[1 + n % 4], 'ask', jsonb_build_object('question', 'question number ' || n), e.envelope,
        (array['succeeded','succeeded','succeeded','failed','dead'])[1 + n % 5], 1 + n % 3,
        'offline', 'offline-1', 100 + n % 900, 20 + n % 300, (n % 97) / 10000.0, 50 + n % 2000,
        case when n % 5 >= 3 then 'provider error ' || n end, jsonb_build_object('text', 'answer number ' || n),
        now() - n * interval '2 minutes', now() - n * interval '2 minutes'
      from generate_series(1, ${ROWS}) as n, executions e where e.id = ${seed.body.execution_id}`);
    const res = await sb.app.request('/console/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: ADMIN_TOKEN }),
    });
    cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  }, 120_000);
  afterAll(async () => sb?.close());

  it('serves every page', async () => {
    for (const path of [
      '/',
      '/console/agents',
      '/console/executions?status=failed&q=question',
      '/console/conversations',
      '/console/access',
      '/console/playground',
    ]) {
      const res = await sb.app.request(path, { headers: { cookie } });
      expect(res.status, path).toBe(200);
      expect(await res.text()).toContain('<nav aria-label="Console">');
    }
  });

  it('answers the overview with every execution of the last week counted', async () => {
    const res = await sb.app.request('/api/overview', { headers: { cookie } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    const runs = body.agents.reduce((n: number, a: any) => n + a.runs, 0);
    // The seed, and one copy every 2 minutes for 7 days (the oldest copy sits on the boundary as the clock moves).
    expect(runs).toBeGreaterThanOrEqual(7 * 24 * 30);
    expect(runs).toBeLessThanOrEqual(7 * 24 * 30 + 1);
    const ask = body.agents.find((a: any) => a.name === 'ask');
    expect(ask.success_rate).toBeGreaterThan(0.5);
    expect(ask.median_latency_ms).toBeGreaterThan(0);
    expect(body.series.length).toBeGreaterThanOrEqual(24);
    expect(body.last_hour.executions).toBeGreaterThanOrEqual(30);
    expect(body.last_hour.executions).toBeLessThanOrEqual(31);
  });

  it('pages and searches the executions the console lists', async () => {
    let cursor: string | null = null;
    const seen = new Set<string>();
    for (let page = 0; page < 4; page++) {
      const res = await sb.api('GET', `/api/executions?limit=25&channel=slack&q=answer%20number${cursor ? `&before=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.executions).toHaveLength(25);
      for (const e of res.body.executions) seen.add(e.id);
      cursor = res.body.next_cursor;
    }
    expect(seen.size).toBe(100);
    const usage = await sb.api('GET', '/api/usage?days=14');
    expect(usage.body.by_day.length).toBeGreaterThanOrEqual(14);
    const conversations = await sb.api('GET', '/api/conversations?limit=25');
    expect(conversations.body.conversations[0].message_count).toBeGreaterThan(0);
  });
});
