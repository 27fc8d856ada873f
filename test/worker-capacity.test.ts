/**
 * A worker runs up to WORKER_CONCURRENCY executions at once, however they arrive: a quick command is not kept
 * waiting behind answers that are still being written, while capacity is free.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeLlm } from './fakes/anthropic-api.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

describe.each(databaseKinds)('worker capacity on %s', (kind) => {
  let anthropic: FakeLlm;
  let sb: TestSwitchboard;
  beforeAll(async () => {
    anthropic = await startFakeAnthropic();
    sb = await startTestSwitchboard(kind, {
      ANTHROPIC_API_KEY: 'k',
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_MODEL: 'claude-test-1',
      WORKER_CONCURRENCY: '8',
      RATE_LIMIT_BURST: '1000',
    });
  });
  afterAll(async () => {
    await sb?.close();
    await anthropic?.close();
  });

  it('answers a command that arrives while earlier answers are still streaming, one at a time', async () => {
    const release = anthropic.hold();
    const asks: string[] = [];
    try {
      // Three questions, each arriving once the one before is being answered.
      for (let i = 1; i <= 3; i++) {
        const posted = await sb.api('POST', '/api/messages', { text: `question ${i}?`, user_id: `asker-${i}` });
        asks.push(posted.body.execution_id);
        const seen = await waitFor(
          () => anthropic.requests.length,
          (n) => n === i,
          10_000,
        );
        expect(seen).toBe(i);
      }
      const status = await sb.api('POST', '/api/messages', { text: 'status', user_id: 'operator' });
      const done = await waitFor(
        async () => (await sb.api('GET', `/api/executions/${status.body.execution_id}`)).body.status,
        (s) => s === 'succeeded',
        10_000,
      );
      expect(done).toBe('succeeded');
    } finally {
      release();
    }
    for (const id of asks) {
      const s = await waitFor(
        async () => (await sb.api('GET', `/api/executions/${id}`)).body.status,
        (s) => s === 'succeeded',
        20_000,
      );
      expect(s).toBe('succeeded');
    }
  });
});
