import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

describe.each(databaseKinds)("the console's overview and conversation feedback on %s", (kind) => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind, { RATE_LIMIT_BURST: '1000' });
  });
  afterAll(async () => sb?.close());

  it('counts runs, outcomes and votes per agent, and lists channels with what turns each on', async () => {
    const asked = await sb.api('POST', '/api/messages?wait=1', { text: 'what is our deploy process?', user_id: 'ov-1', conversation_id: 'ov' });
    await sb.api('POST', '/api/messages?wait=1', { text: 'help', user_id: 'ov-1', conversation_id: 'ov' });
    expect((await sb.api('POST', '/api/feedback', { execution_id: asked.body.execution_id, score: -1, user_id: 'ov-1' })).status).toBe(201);

    const { status, body } = await sb.api('GET', '/api/overview');
    expect(status).toBe(200);
    const ask = body.agents.find((a: any) => a.name === 'ask');
    expect(ask).toMatchObject({ enabled: true, runs: 1, succeeded: 1, failed: 0, success_rate: 1, up: 0, down: 1 });
    expect(ask.median_latency_ms).toBeGreaterThanOrEqual(0);
    expect(body.agents.find((a: any) => a.name === 'help')).toMatchObject({ runs: 1, succeeded: 1 });
    expect(body.agents.find((a: any) => a.name === 'review')).toMatchObject({ runs: 0, success_rate: null, median_latency_ms: null });
    expect(body.channels).toContainEqual({ channel: 'slack', enabled: false, required_env: expect.arrayContaining(['SLACK_SIGNING_SECRET']) });
    expect(body.channels).toContainEqual({ channel: 'web', enabled: true, required_env: [] });
    expect(body.providers).toContainEqual({ name: 'offline', state: 'closed', last_error: null });
    expect(body.queue).toMatchObject({ depth: 0 });
    expect(body.last_hour).toMatchObject({ executions: 2, failures: 0 });
    expect(body.series.reduce((n: number, b: any) => n + b.executions, 0)).toBe(2);

    const feedback = await sb.api('GET', `/api/conversations/${asked.body.conversation_id}/feedback`);
    expect(feedback.body).toEqual({ feedback: [{ execution_id: asked.body.execution_id, up: 0, down: 1 }] });
    expect((await sb.api('GET', '/api/conversations/not-a-uuid/feedback')).status).toBe(404);
  });
});
