/**
 * The channel contract: every platform adapter must pass the same cases, run against a real in-process
 * Switchboard and the platform's fake API. A channel supplies how to sign a message, how to forge one and how to
 * read what was sent back; the suite checks the guarantees the pipeline promises. This is the one home of the
 * cases that are the same on every channel; a channel's own file keeps only what is its own. (Hostile input,
 * such as broken JSON, a wrong media type or an oversized body, is the table in test/hostile-input.test.ts, which
 * runs it against every route, the web and hooks too.)
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../db/rows.ts';
import { askAgent } from '../../src/agents/ask.ts';
import { createAgents } from '../../src/agents/index.ts';
import type { Agent } from '../../src/ports.ts';
import type { ChannelName } from '../../src/types.ts';
import { accessCli, accessDenied } from './access.ts';
import { databaseKinds } from './databases.ts';
import { signedHook, startTestSwitchboard, tableCounts, type TestSwitchboard } from './switchboard.ts';
import { createGate, pipelineIdle, waitFor } from './wait.ts';

/** A reply attempt the fake platform saw: refused (429) or accepted, and when. */
export type Attempt = { status: number; at: number };

/** A request that must be refused with 401, and the error code that says why, where the channel has its own. */
export type Forgery = { request: RequestInit; code?: string };

export type ContractChannel = {
  name: string;
  channel: ChannelName;
  route: string;
  /** Env that enables the channel (pointing its SDK at `fakeUrl`); the env names the 404 must mention. */
  env(fakeUrl: string): Record<string, string>;
  requiredEnv: string[];
  /** Env of a half-configured channel, still disabled (WhatsApp without PUBLIC_URL); default: none of it. */
  partialEnv?: Record<string, string>;
  startFake(): Promise<{ url: string; close(): Promise<void> }>;
  /**
   * A correctly signed user message with delivery id `id`, asking `text`. `user` names the person, and on a chat
   * platform (`chat`) the conversation too, so a case can start with one that has no earlier answer.
   */
  message(id: string, text: string, user?: string): Promise<RequestInit> | RequestInit;
  /** The same delivery again as the platform redelivers it (`n`: the how-manieth retry); default: the same request. */
  redeliver?(init: RequestInit, n: number): RequestInit;
  /** Asserts the answer the platform expects once the delivery is stored: the first time, or again (`duplicate`). */
  acked(res: Response, duplicate: boolean): Promise<void>;
  /** Every way a request can fail the channel's check (wrong secret, tampered body, stale or missing signature …), with the error code where the channel names one. */
  forgeries(id: string, text: string): Promise<Forgery[]> | Forgery[];
  /** Texts the fake platform received as replies so far, as people see them. */
  sent(): string[];
  /** How many calls the fake platform has received. */
  calls(): number;
  /** A channel that takes routed replies: a routing rule's target there, and the texts delivered to it. */
  destination?: { target: string; sentTo(target: string): string[] };
  /** A channel whose platform rate-limits replies with 429 and a wait. */
  rateLimits?: {
    /** Makes the platform answer the next reply with 429, asking to wait `seconds`. */
    next(seconds: number): void;
    /** The reply attempts the platform saw (429s included), oldest first. */
    attempts(): Attempt[];
  };
  /** The most characters one message shows, on a channel that splits long answers into several. */
  messageLimit?: number;
  /** A chat: a diff pasted as a message is reviewed there (GitHub reviews the pull request instead). */
  chat?: boolean;
  /**
   * One person's messages share a conversation (a chat), so a typed +1 rates the answer before it; not on Slack,
   * where each mention starts a thread of its own.
   */
  conversation?: boolean;
  /** The id a person's votes are stored under (a Telegram user id, a WhatsApp number), for a `conversation` channel. */
  userId?(user: string): string;
  /**
   * A channel whose people pair by default (TELEGRAM_ACCESS, WHATSAPP_ACCESS): `code` reads the pairing code from
   * the answer to a refused message (undefined when it carries none); `subject` is how an approval names `user`.
   */
  pairing?: { code(res: Response): Promise<string | undefined>; subject(user: string): string };
  /** A handshake the platform sends before any event (Slack's url_verification); a disabled channel answers it 404 too. */
  handshake?: RequestInit;
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

/** Paragraphs of ordinary words, each shorter than any platform's message: a cut inside one would show. */
export const LONG = Array.from({ length: 14 }, (_, i) => `Step ${i}: ${Array.from({ length: 90 }, (_, j) => `carefully${j}`).join(' ')}.`).join('\n\n');

export function channelContract(channel: ContractChannel) {
  describe.each(databaseKinds)(`${channel.name} channel contract on %s`, (kind) => {
    let sb: TestSwitchboard;
    let fake: { url: string; close(): Promise<void> };
    // `ask` waits at the gate for a question naming GATED, and answers LONG for one naming LONG.
    const gate = createGate();
    const agents: Agent[] = createAgents().map((agent) =>
      agent.name !== 'ask'
        ? agent
        : {
            ...askAgent,
            async run(ctx) {
              if (ctx.envelope.text.includes('GATED')) await gate.pass();
              return ctx.envelope.text.includes('LONG') ? { text: LONG, feedback: true } : askAgent.run(ctx);
            },
          },
    );
    const post = async (init: RequestInit | Promise<RequestInit>) => sb.app.request(channel.route, await init);
    const latest = async (agent: string) => (await sb.api('GET', `/api/executions?channel=${channel.channel}&agent=${agent}&limit=1`)).body.executions[0];
    const finished = (agent: string) =>
      waitFor(
        () => latest(agent),
        (e) => e?.status === 'succeeded' || e?.status === 'dead',
      );
    /** The replies that arrive after `before`, once there are at least `count`. */
    const replies = (before: number, count = 1) =>
      waitFor(
        () => channel.sent().slice(before),
        (s) => s.length >= count,
      );

    beforeAll(async () => {
      fake = await channel.startFake();
      sb = await startTestSwitchboard(kind, { ...channel.env(fake.url), RATE_LIMIT_BURST: '1000' }, { agents });
    });
    afterAll(async () => {
      await sb?.close();
      await fake?.close();
    });

    it('a signed message is stored once and answered once, in place', async () => {
      const before = channel.sent().length;
      const res = await post(channel.message('contract-1', 'help'));
      await channel.acked(res, false);
      expect((await replies(before)).join('\n')).toMatch(/summarize/);
      expect((await tableCounts(sb)).executions).toBe(1);
    });

    it('acknowledges a delivery once it is stored, before the agent has answered', async () => {
      const before = channel.sent().length;
      await channel.acked(await post(channel.message('contract-gated', 'ask GATED what changed?')), false);
      await waitFor(() => gate.waiting, Boolean);
      expect(channel.sent().slice(before)).toEqual([]); // the agent is blocked: nothing went out yet
      gate.open();
      expect(await replies(before)).toHaveLength(1);
    });

    it('a retried delivery, even in parallel, creates one execution and one reply', async () => {
      const before = channel.sent().length;
      const counts = await tableCounts(sb);
      const init = await channel.message('contract-2', 'status');
      const again = (n: number) => channel.redeliver?.(init, n) ?? init;
      const responses = await Promise.all([0, 1, 2, 3, 1, 2].map((n) => sb.app.request(channel.route, again(n))));
      expect(responses.every((r) => r.status < 300)).toBe(true);
      await replies(before);
      // Stored by now: a later redelivery is acknowledged as a duplicate.
      await channel.acked(await sb.app.request(channel.route, again(4)), true);
      await pipelineIdle(sb); // every reply is out: a second one would be here by now
      expect((await tableCounts(sb)).executions).toBe(counts.executions + 1);
      expect(channel.sent().length - before).toBe(1);
    });

    it.runIf(channel.chat)('a pasted diff is answered with each finding listed exactly once', async () => {
      const before = channel.sent().length;
      const res = await post(channel.message('contract-5', PASTED_DIFF));
      expect(res.status).toBeLessThan(300);
      const sent = (
        await waitFor(
          () => channel.sent().slice(before),
          (s) => s.join('\n').includes('TODO added'),
        )
      ).join('\n');
      for (const finding of ['src/app.ts:2 — Debug leftover', 'src/app.ts:3 — TODO added']) expect(sent.split(finding)).toHaveLength(2);
    });

    it('every forged request is refused with 401 JSON, storing nothing and calling the platform never', async () => {
      const before = await tableCounts(sb);
      const calls = channel.calls();
      const forged = await channel.forgeries('contract-3', 'help');
      expect(forged.length).toBeGreaterThan(0);
      for (const { request, code } of forged) {
        const res = await post(request);
        expect(res.status).toBe(401);
        expect(((await res.json()) as any).error).toMatchObject({ code: code ?? expect.any(String), message: expect.any(String) });
      }
      await pipelineIdle(sb);
      expect(await tableCounts(sb)).toEqual(before);
      expect(channel.calls()).toBe(calls);
    });

    it.runIf(channel.messageLimit)("splits a long answer into messages within the platform's limit, at paragraph breaks, losing nothing", async () => {
      const before = channel.sent().length;
      await post(channel.message('contract-long', 'ask LONG answer please'));
      const paragraphs = LONG.split('\n\n');
      const parts = await waitFor(
        () => channel.sent().slice(before),
        (s) => s.join('\n').includes(paragraphs.at(-1)!),
      );
      await pipelineIdle(sb);
      expect(channel.sent().slice(before)).toEqual(parts);
      expect(parts.length).toBeGreaterThan(1);
      for (const part of parts) expect(part.length).toBeLessThanOrEqual(channel.messageLimit!);
      // Every paragraph whole in one message, in order: nothing cut inside a paragraph, nothing lost or repeated.
      const holding = paragraphs.map((p) => parts.findIndex((part) => part.includes(p)));
      expect(holding.every((i) => i >= 0)).toBe(true);
      expect(holding).toEqual([...holding].sort((a, b) => a - b));
      for (const p of paragraphs) expect(parts.join('\n').split(p)).toHaveLength(2);
    });

    it.runIf(channel.rateLimits)("honours a 429's wait: the reply goes out no sooner, and once, within the same attempt", async () => {
      const limits = channel.rateLimits!;
      const before = channel.sent().length;
      const from = limits.attempts().length;
      limits.next(1);
      await post(channel.message('contract-limit', 'help'));
      expect((await replies(before)).join('\n')).toMatch(/summarize/);
      const attempts = limits.attempts().slice(from);
      const limited = attempts.findIndex((a) => a.status === 429);
      expect(limited).toBeGreaterThanOrEqual(0);
      const accepted = attempts.slice(limited + 1).find((a) => a.status < 300);
      expect(accepted!.at - attempts[limited]!.at).toBeGreaterThanOrEqual(950);
      await pipelineIdle(sb);
      expect(channel.sent().length - before).toBe(1);
      expect((await latest('help')).attempts).toBe(1); // waited out in place, not a failed attempt
    });

    it.runIf(channel.destination)('delivers a routed webhook event to the routing rule’s target', async () => {
      const { target, sentTo } = channel.destination!;
      const rule = await sb.api('POST', '/api/routes', { source: 'ci', agent: 'status', destination: { channel: channel.channel, target } });
      expect(rule.status).toBe(201);
      try {
        const res = await sb.app.request('/hooks/ci', signedHook({ type: 'build.failed', text: 'nightly failed' }));
        expect(res.status).toBeLessThan(300);
        const [posted] = await waitFor(
          () => sentTo(target),
          (p) => p.length > 0,
        );
        expect(posted).toMatch(/queue/i);
      } finally {
        await sb.api('DELETE', `/api/routes/${rule.body.id}`);
      }
    });

    it.runIf(channel.conversation)('feeds the conversation to the agents: summarize recalls what was said', async () => {
      const before = channel.sent().length;
      await post(channel.message('contract-said', 'The payments deploy failed because the queue consumer ran out of memory.', 'contract-recall'));
      await replies(before);
      await post(channel.message('contract-recall', 'summarize', 'contract-recall'));
      expect((await replies(before, 2))[1]).toMatch(/memory/i);
    });

    it.runIf(channel.conversation)('a typed +1 or 👎 rates the answer before it, one vote per person; with none to rate, says so', async () => {
      const before = channel.sent().length;
      await post(channel.message('contract-vote-0', '-1', 'contract-voter'));
      expect((await replies(before))[0]).toMatch(/no earlier answer/i);
      await post(channel.message('contract-vote-1', 'where are the deploy logs?', 'contract-voter'));
      await replies(before, 2);
      // Rating needs the answer to have finished, as it has by the time a person reads it and reacts.
      const asked = await finished('ask');
      await post(channel.message('contract-vote-2', '+1', 'contract-voter'));
      expect((await replies(before, 3))[2]).toMatch(/recorded 👍/);
      await post(channel.message('contract-vote-3', '👎', 'contract-voter'));
      expect((await replies(before, 4))[3]).toMatch(/recorded 👎/);
      const votes = rowsOf(await sb.opened.handle.db.execute(sql`select user_id, score, channel from feedback where execution_id = ${asked.id}`));
      expect(votes).toEqual([{ user_id: channel.userId!('contract-voter'), score: -1, channel: channel.channel }]);
    });

    it.runIf(channel.pairing)('with pairing on, a stranger gets one code in place and nothing is stored; once approved, is answered', async () => {
      const { code: codeIn, subject } = channel.pairing!;
      const strict = await startTestSwitchboard(kind, { ...channel.env(fake.url), RATE_LIMIT_BURST: '1000' }, { access: 'strict' });
      try {
        const ask = async (id: string, text: string) => strict.app.request(channel.route, await channel.message(id, text, 'contract-stranger'));
        const denied = (reason: string) => accessDenied(strict, channel.channel, reason);
        const cli = accessCli(strict);
        const before = await tableCounts(strict);
        const sent = channel.sent().length;
        const first = await ask('contract-pair-1', 'hello there');
        expect(first.status).toBe(200);
        const code = await codeIn(first);
        expect(code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{2}$/);
        // Writing again while the code is pending: no second code, still nothing stored.
        for (const [i, text] of ['hello?', 'anyone?'].entries()) expect(await codeIn(await ask(`contract-pair-again-${i}`, text))).toBeUndefined();
        await pipelineIdle(strict);
        expect(await tableCounts(strict)).toEqual(before);
        expect(channel.sent().length).toBe(sent);
        expect([await denied('pairing'), await denied('pairing_pending')]).toEqual([1, 2]);
        const pending = (await strict.api('GET', '/api/access')).body.pending;
        expect(pending).toContainEqual(expect.objectContaining({ code, channel: channel.channel, subject: subject('contract-stranger'), scope: 'person' }));

        expect((await cli('list')).output).toContain(code);
        const approved = await cli('approve', code!.toLowerCase());
        expect(approved.code).toBe(0);
        expect(approved.output).toContain(`${channel.channel} ${subject('contract-stranger')}`);
        await expect(cli('approve', code!)).rejects.toThrow(/not_found/); // a code works once

        await ask('contract-pair-2', 'help');
        expect((await replies(sent)).join('\n')).toMatch(/summarize/);
        expect((await tableCounts(strict)).executions).toBe(before.executions + 1);
        // The approval is in the audit trail: who, what, when.
        const access = await strict.api('GET', '/api/access');
        expect(access.body.audit[0]).toMatchObject({
          action: 'approve',
          channel: channel.channel,
          subject: subject('contract-stranger'),
          actor: expect.stringMatching(/^cli/),
        });
        expect(access.body.pending.map((p: any) => p.code)).not.toContain(code);
      } finally {
        await strict.close();
      }
    });

    it('the disabled channel answers 404 naming the variables that enable it, and cannot be a routing destination', async () => {
      const bare = await startTestSwitchboard(kind, channel.partialEnv ?? {});
      try {
        const res = await bare.app.request(channel.route, await channel.message('contract-4', 'help'));
        expect(res.status).toBe(404);
        const body = (await res.json()) as any;
        for (const name of channel.requiredEnv) expect(body.error.message).toContain(name);
        if (channel.handshake) expect((await bare.app.request(channel.route, channel.handshake)).status).toBe(404);
        if (channel.destination) {
          const destination = { channel: channel.channel, target: channel.destination.target };
          const rule = await bare.api('POST', '/api/routes', { source: 'ci', agent: 'status', destination });
          expect(rule.status).toBe(400);
          expect(rule.body.error.message).toContain(channel.requiredEnv[0]);
        }
        expect(await tableCounts(bare)).toMatchObject({ executions: 0 });
      } finally {
        await bare.close();
      }
    });
  });
}
