import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackpressure } from '../src/pipeline/backpressure.ts';
import { databaseKinds } from './support/databases.ts';
import { BOT_TOKEN, BOT_USER, SIGNING_SECRET, eventRequest } from './fakes/slack-api.ts';
import { signedHook, startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

describe('backpressure', () => {
  it('reads the queue depth at most once per interval', async () => {
    let reads = 0;
    let t = 0;
    const bp = createBackpressure({ limit: 10, readDepth: async () => (reads++, 11), now: () => t, ttlMs: 1000 });
    await bp.depth();
    await bp.state();
    expect(reads).toBe(1);
    t = 1000;
    expect(await bp.state()).toEqual({ depth: 11, limit: 10, degraded: true });
    expect(reads).toBe(2);
  });

  it('refuses with 503 and Retry-After while over the limit, and admits within it', async () => {
    await expect(createBackpressure({ limit: 1, readDepth: async () => 2 }).admit()).rejects.toMatchObject({
      status: 503,
      code: 'overloaded',
      headers: { 'Retry-After': '30' },
    });
    await expect(createBackpressure({ limit: 2, readDepth: async () => 2 }).admit()).resolves.toBeUndefined();
  });

  it('says how many executions wait and the limit when it refuses, and is not degraded at the limit itself', async () => {
    await expect(createBackpressure({ limit: 3, readDepth: async () => 7 }).admit()).rejects.toThrow(
      '7 executions are waiting (limit 3); webhooks are paused until the queue drains, retry later',
    );
    expect(await createBackpressure({ limit: 7, readDepth: async () => 7 }).state()).toEqual({ depth: 7, limit: 7, degraded: false });
  });

  it('keeps a depth for a second by default, and reads again once the second is over', async () => {
    let reads = 0;
    let t = 5000;
    const bp = createBackpressure({ limit: 10, readDepth: async () => ++reads, now: () => t });
    expect(await bp.depth()).toBe(1);
    t = 5999;
    expect(await bp.depth()).toBe(1);
    t = 6000;
    expect(await bp.depth()).toBe(2);
    // The clock defaults to the real one: two reads in a row share one count.
    let real = 0;
    const byDefault = createBackpressure({ limit: 10, readDepth: async () => ++real });
    await byDefault.depth();
    await byDefault.depth();
    expect(real).toBe(1);
  });

  it('does not keep a failed read: the next call asks the database again', async () => {
    let reads = 0;
    const bp = createBackpressure({ limit: 10, now: () => 0, readDepth: async () => (++reads === 1 ? Promise.reject(new Error('down')) : 4) });
    await expect(bp.depth()).rejects.toThrow('down');
    expect(await bp.depth()).toBe(4);
    expect(reads).toBe(2);
  });
});

describe.each(databaseKinds)('a deep queue on %s', (kind) => {
  let sb: TestSwitchboard;
  // A web-only process runs no workers, so what it accepts stays queued.
  beforeAll(async () => {
    sb = await startTestSwitchboard(
      kind,
      // Slack is enabled so a real platform's event is part of what must still be acked; nothing is replied here.
      { QUEUE_DEPTH_LIMIT: '1', SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: 'http://127.0.0.1:9/api/' },
      { role: 'web' },
    );
  });
  afterAll(async () => sb?.close());

  const readiness = async () => (await (await sb.app.request('/readyz')).json()) as any;
  const metrics = async () => (await sb.app.request('/metrics')).text();

  it('takes webhooks while the queue is within the limit', async () => {
    expect((await readiness()).status).toBe('ready');
    expect(await metrics()).toMatch(/^switchboard_degraded 0$/m);
    const accepted = await sb.app.request('/hooks/ci', signedHook({ text: 'status' }));
    expect([200, 202]).toContain(accepted.status);
  });

  it('keeps acking chat platforms, sheds webhooks with 503 storing nothing, and reports degraded', async () => {
    for (const user of ['a', 'b']) expect((await sb.api('POST', '/api/messages', { text: 'help', user_id: user })).status).toBe(202);
    // The depth is read at most once a second; readiness reads it the same way ingress does.
    const body = await waitFor(readiness, (b) => b.status === 'degraded');
    expect(body.status).toBe('degraded');
    expect(body.checks.queue).toMatchObject({ ok: false, limit: 1 });
    expect(body.checks.queue.depth).toBeGreaterThanOrEqual(2);

    const before = await tableCounts(sb);
    const shed = await sb.app.request('/hooks/ci', signedHook({ text: 'status' }));
    expect(shed.status).toBe(503);
    expect(shed.headers.get('retry-after')).toBe('30');
    expect(((await shed.json()) as any).error.code).toBe('overloaded');
    expect(await tableCounts(sb)).toEqual(before);

    // A refused platform would retry into the backlog: Slack is acknowledged and its event queued.
    const slack = await sb.app.request(
      '/slack/events',
      eventRequest({ type: 'app_mention', user: 'U0ALICE01', text: `<@${BOT_USER}> help`, ts: '1700004000.000001', channel: 'C0DEEP' }, 'EvDeepQueue'),
    );
    expect(slack.status).toBe(200);
    expect((await sb.api('POST', '/api/messages', { text: 'help', user_id: 'c' })).status).toBe(202);
    expect((await tableCounts(sb)).executions).toBe(before.executions + 2);

    const ready = await sb.app.request('/readyz');
    expect(ready.status).toBe(200);
    const text = await metrics();
    expect(text).toMatch(/^switchboard_degraded 1$/m);
    expect(Number(/^switchboard_queue_depth (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
  });
});
