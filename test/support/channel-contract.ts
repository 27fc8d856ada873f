/**
 * The channel contract: every platform adapter must pass the same cases, run against a real in-process
 * Switchboard and the platform's fake API. A channel supplies how to sign a message and how to read what
 * was sent back; the suite checks the guarantees the pipeline promises.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './databases.ts';
import { startTestSwitchboard, tableCounts, type TestSwitchboard } from './switchboard.ts';
import { pipelineIdle, waitFor } from './wait.ts';

export type ContractChannel = {
  name: string;
  route: string;
  /** Env that enables the channel (pointing its SDK at `fakeUrl`); the env names the 404 must mention. */
  env(fakeUrl: string): Record<string, string>;
  requiredEnv: string[];
  startFake(): Promise<{ url: string; close(): Promise<void> }>;
  /** A correctly signed user message with delivery id `id`, asking `text`. */
  message(id: string, text: string, user?: string): Promise<RequestInit> | RequestInit;
  /** The same request with its signature broken (wrong secret or tampered body). */
  tamper(init: RequestInit): RequestInit;
  /** Texts the fake platform received as replies so far. */
  sent(): string[];
  /** A chat: a diff pasted as a message is reviewed there (GitHub reviews the pull request instead). */
  chat?: boolean;
};

/** A pasted diff with two findings on known lines (a debug leftover on line 2, a TODO on line 3). */
export const PASTED_DIFF = [
  'diff --git a/src/app.ts b/src/app.ts',
  '--- a/src/app.ts',
  '+++ b/src/app.ts',
  '@@ -1,1 +1,3 @@',
  ' const a = 1;',
  '+console.log(a);',
  '+// TODO tidy',
].join('\n');

export function channelContract(channel: ContractChannel) {
  describe.each(databaseKinds)(`${channel.name} channel contract on %s`, (kind) => {
    let sb: TestSwitchboard;
    let fake: { url: string; close(): Promise<void> };
    beforeAll(async () => {
      fake = await channel.startFake();
      sb = await startTestSwitchboard(kind, { ...channel.env(fake.url), RATE_LIMIT_BURST: '1000' });
    });
    afterAll(async () => {
      await sb?.close();
      await fake?.close();
    });

    it('a signed message is stored once and answered once, in place', async () => {
      const before = channel.sent().length;
      const res = await sb.app.request(channel.route, await channel.message('contract-1', 'help'));
      expect(res.status).toBeLessThan(300);
      const sent = await waitFor(
        () => channel.sent().slice(before),
        (s) => s.length > 0,
      );
      expect(sent.join('\n')).toMatch(/summarize/);
      expect((await tableCounts(sb)).executions).toBe(1);
    });

    it('a retried delivery, even in parallel, creates one execution and one reply', async () => {
      const before = channel.sent().length;
      const counts = await tableCounts(sb);
      const init = await channel.message('contract-2', 'status');
      const responses = await Promise.all(Array.from({ length: 5 }, () => sb.app.request(channel.route, init)));
      expect(responses.every((r) => r.status < 300)).toBe(true);
      await waitFor(
        () => channel.sent().length - before,
        (n) => n > 0,
      );
      await pipelineIdle(sb); // every reply is out: a second one would be here by now
      expect((await tableCounts(sb)).executions).toBe(counts.executions + 1);
      expect(channel.sent().length - before).toBe(1);
    });

    it.runIf(channel.chat)('a pasted diff is answered with each finding listed exactly once', async () => {
      const before = channel.sent().length;
      const res = await sb.app.request(channel.route, await channel.message('contract-5', PASTED_DIFF));
      expect(res.status).toBeLessThan(300);
      const sent = (
        await waitFor(
          () => channel.sent().slice(before),
          (s) => s.join('\n').includes('TODO added'),
        )
      ).join('\n');
      for (const finding of ['src/app.ts:2 — Debug leftover', 'src/app.ts:3 — TODO added']) expect(sent.split(finding)).toHaveLength(2);
    });

    it('a request with a bad signature is refused with 401 JSON and stores nothing', async () => {
      const before = await tableCounts(sb);
      const res = await sb.app.request(channel.route, channel.tamper(await channel.message('contract-3', 'help')));
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.code).toEqual(expect.any(String));
      expect(await tableCounts(sb)).toEqual(before);
    });

    it('the disabled channel answers 404 naming the variables that enable it', async () => {
      const bare = await startTestSwitchboard(kind);
      try {
        const res = await bare.app.request(channel.route, await channel.message('contract-4', 'help'));
        expect(res.status).toBe(404);
        const body = (await res.json()) as any;
        for (const name of channel.requiredEnv) expect(body.error.message).toContain(name);
      } finally {
        await bare.close();
      }
    });
  });
}
