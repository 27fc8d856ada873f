import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryLaterError, type Agent } from '../src/ports.ts';
import { createAgents } from '../src/agents/index.ts';
import { deferral, MAX_DEFERRALS } from '../src/pipeline/outbound.ts';
import { databaseKinds } from './support/databases.ts';
import { signedHook, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

/** Answers only on its third call; the first two are refused the way a platform's 429 is, with a wait. */
function rateLimitedAgent() {
  const calls: number[] = [];
  const agent: Agent = {
    name: 'throttled',
    description: 'rate-limited twice, then answers (test agent)',
    usesLlm: false,
    async run() {
      calls.push(Date.now());
      if (calls.length <= 2) throw new RetryLaterError(1000, 'the platform answered 429');
      return { text: 'answered after the wait' };
    },
  };
  return { agent, calls };
}

/** Never answers until released: its attempt outlives the job timeout. */
function hangingAgent() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const agent: Agent = {
    name: 'stuck',
    description: 'hangs until released (test agent)',
    usesLlm: false,
    async run() {
      await released;
      return { text: 'too late' };
    },
  };
  return { agent, release };
}

describe('deferral', () => {
  it('defers a RetryLaterError for the whole seconds the platform asked, bounded to an hour, while deferrals are left', () => {
    expect(deferral(new RetryLaterError(2200, '429'), 0)).toBe(3);
    expect(deferral(new RetryLaterError(86_400_000, '429'), 0)).toBe(3600);
    expect(deferral(new RetryLaterError(1000, '429'), MAX_DEFERRALS)).toBeUndefined();
    expect(deferral(new Error('boom'), 0)).toBeUndefined();
    expect(deferral(null, 0)).toBeUndefined();
  });
});

describe.each(databaseKinds)('worker recovery on %s', (kind) => {
  let sb: TestSwitchboard;
  const throttled = rateLimitedAgent();
  const stuck = hangingAgent();
  beforeAll(async () => {
    // One attempt only: a rate limit that counted as an attempt would leave the execution dead.
    sb = await startTestSwitchboard(kind, { MAX_ATTEMPTS: '1', JOB_TIMEOUT_SECONDS: '5' }, { agents: [...createAgents(), throttled.agent, stuck.agent] });
  });
  afterAll(async () => {
    stuck.release();
    await sb?.close();
  });

  it('a platform rate limit re-queues the execution after the wait it asked for, without using up an attempt', async () => {
    const res = await sb.app.request('/hooks/ci', signedHook({ agent: 'throttled', text: 'go' }));
    const id = ((await res.json()) as any).executions[0].id;
    const row = await sb.waiter.wait(id, 30_000);
    expect(row).toMatchObject({ status: 'succeeded', attempts: 1, error: null });
    expect((row as any).result.text).toBe('answered after the wait');
    expect(throttled.calls).toHaveLength(3);
    // Each retry came no sooner than the one second the "platform" asked for.
    expect(throttled.calls[1]! - throttled.calls[0]!).toBeGreaterThanOrEqual(900);
    expect(throttled.calls[2]! - throttled.calls[1]!).toBeGreaterThanOrEqual(900);
  });

  it('an execution whose last attempt never finishes ends dead, saying how to replay it', async () => {
    const res = await sb.app.request('/hooks/ci', signedHook({ agent: 'stuck', text: 'go' }));
    const id = ((await res.json()) as any).executions[0].id;
    const row = await sb.waiter.wait(id, 60_000);
    expect(row).toMatchObject({ status: 'dead', attempts: 1 });
    expect((row as any).error).toMatch(/did not finish.*JOB_TIMEOUT_SECONDS.*switchboard replay/);
  }, 70_000);
});
