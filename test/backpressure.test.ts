import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackpressure } from '../src/pipeline/backpressure.ts';
import type { Envelope } from '../src/types.ts';
import { databaseKinds } from './support/databases.ts';
import { signedHook, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

const envelope = (channel: Envelope['channel']) => ({ channel }) as Envelope;

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

  it('sheds generic webhooks but never chat channels when over the limit', async () => {
    const bp = createBackpressure({ limit: 1, readDepth: async () => 2 });
    await expect(bp.admit(envelope('hooks'))).rejects.toMatchObject({ status: 503, code: 'overloaded', headers: { 'Retry-After': '30' } });
    for (const channel of ['web', 'slack', 'telegram', 'whatsapp', 'github'] as const) await expect(bp.admit(envelope(channel))).resolves.toBeUndefined();
  });
});

describe.each(databaseKinds)('a deep queue on %s', (kind) => {
  let sb: TestSwitchboard;
  // A web-only process runs no workers, so what it accepts stays queued.
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind, { QUEUE_DEPTH_LIMIT: '1' }, { role: 'web' });
  });
  afterAll(async () => sb?.close());

  it('keeps acking chat, sheds webhooks with 503, and reports degraded', async () => {
    for (const user of ['a', 'b']) expect((await sb.api('POST', '/api/messages', { text: 'help', user_id: user })).status).toBe(202);
    const shed = await sb.app.request('/hooks/ci', signedHook({ text: 'status' }));
    expect(shed.status).toBe(503);
    expect(shed.headers.get('retry-after')).toBe('30');
    expect(((await shed.json()) as any).error.code).toBe('overloaded');
    expect((await sb.api('POST', '/api/messages', { text: 'help', user_id: 'c' })).status).toBe(202);

    const ready = await sb.app.request('/readyz');
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as any;
    expect(body.status).toBe('degraded');
    expect(body.checks.queue).toMatchObject({ ok: false, limit: 1 });
    expect(body.checks.queue.depth).toBeGreaterThanOrEqual(2);
    expect(await (await sb.app.request('/metrics')).text()).toMatch(/switchboard_degraded 1/);
  });
});
