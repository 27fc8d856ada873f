/**
 * The outbound step: a reply split by the sender's measure, sent part by part, what was delivered kept on the
 * execution (so a retry in another process sends only what is left), and a platform's "retry later" handled once.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { askAgent } from '../src/agents/ask.ts';
import { createAgents } from '../src/agents/index.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { createOutbound, deferral, MAX_DEFERRALS, MAX_WAIT_MS, partsOf, sendParts, type OutboundChannel } from '../src/pipeline/outbound.ts';
import { RetryLaterError, type Agent, type ChannelSender, type OutboundPart, type PartMeta } from '../src/ports.ts';
import { startSwitchboard } from '../src/server.ts';
import type { Delivered, Envelope } from '../src/types.ts';
import { BOT_TOKEN, messageUpdate, startFakeTelegram, telegramRequest, WEBHOOK_SECRET, type FakeTelegram } from './fakes/telegram-api.ts';
import { databaseKinds } from './support/databases.ts';
import { runCliInProcess } from './support/cli.ts';
import { RELAXED_ACCESS_ENV } from './support/process.ts';
import { ADMIN_TOKEN, startTestSwitchboard } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

const ENVELOPE = {
  channel: 'web',
  deliveryId: 'd',
  tenantId: 't',
  conversationKey: 'c',
  userId: 'u',
  text: 'q',
  receivedAt: '2025-01-01T00:00:00Z',
} as Envelope;

/** A sender of ten-character parts that records what it sent and fails where told. */
function recordingSender(fail: (index: number, attempt: number) => Error | undefined = () => undefined) {
  const sent: { text: string; anchor?: string }[] = [];
  const tries = new Map<number, number>();
  const sender: ChannelSender = {
    channel: 'web',
    limits: { maxLength: 10 },
    async send(_envelope, part, meta) {
      const attempt = (tries.get(part.index) ?? 0) + 1;
      tries.set(part.index, attempt);
      const err = fail(part.index, attempt);
      if (err) throw err;
      sent.push({ text: part.text, ...(meta.anchor !== undefined ? { anchor: meta.anchor } : {}) });
      return `message-${part.index}`;
    },
  };
  return { sender, sent };
}

const THREE_PARTS = 'aaaaaaaaa bbbbbbbbb ccccccccc';

describe('sendParts', () => {
  it('a one-part reply writes no progress of its own: it rides on the success write', async () => {
    const { sender, sent } = recordingSender();
    const progress: Delivered[] = [];
    const delivered = await sendParts(sender, { envelope: ENVELOPE }, { text: 'short' }, { executionId: 'e1', progress: async (d) => void progress.push(d) });
    expect(delivered).toEqual({ parts: 1, total: 1, anchor: 'message-0' });
    expect(sent.map((s) => s.text)).toEqual(['short']);
    expect(progress).toEqual([]);
  });

  it('records progress between the parts of a longer reply, and hands later parts the first part’s anchor', async () => {
    const { sender, sent } = recordingSender();
    const progress: Delivered[] = [];
    const delivered = await sendParts(
      sender,
      { envelope: ENVELOPE },
      { text: THREE_PARTS },
      { executionId: 'e2', progress: async (d) => void progress.push(d) },
    );
    expect(sent).toEqual([{ text: 'aaaaaaaaa' }, { text: 'bbbbbbbbb', anchor: 'message-0' }, { text: 'ccccccccc', anchor: 'message-0' }]);
    expect(progress).toEqual([
      { parts: 1, total: 3, anchor: 'message-0' },
      { parts: 2, total: 3, anchor: 'message-0' },
    ]);
    expect(delivered).toEqual({ parts: 3, total: 3, anchor: 'message-0' });
  });

  it('continues after the parts an earlier attempt delivered', async () => {
    const { sender, sent } = recordingSender();
    await sendParts(
      sender,
      { envelope: ENVELOPE },
      { text: THREE_PARTS },
      { executionId: 'e3', delivered: { parts: 2, anchor: 'm0' }, progress: async () => {} },
    );
    expect(sent).toEqual([{ text: 'ccccccccc', anchor: 'm0' }]);
  });

  it('waits out a short RetryLaterError in place and sends the part once', async () => {
    const { sender, sent } = recordingSender((index, attempt) => (index === 1 && attempt === 1 ? new RetryLaterError(2000, 'busy') : undefined));
    const slept: number[] = [];
    await sendParts(
      sender,
      { envelope: ENVELOPE },
      { text: THREE_PARTS },
      { executionId: 'e4', progress: async () => {}, sleep: async (ms) => void slept.push(ms) },
    );
    expect(slept).toEqual([2000]);
    expect(sent.map((s) => s.text)).toEqual(['aaaaaaaaa', 'bbbbbbbbb', 'ccccccccc']);
  });

  it('hands a long RetryLaterError on, with the parts before it recorded', async () => {
    const { sender, sent } = recordingSender((index) => (index === 2 ? new RetryLaterError(60_000, 'busy') : undefined));
    const progress: Delivered[] = [];
    const slept: number[] = [];
    const failed = await sendParts(
      sender,
      { envelope: ENVELOPE },
      { text: THREE_PARTS },
      {
        executionId: 'e5',
        progress: async (d) => void progress.push(d),
        sleep: async (ms) => void slept.push(ms),
      },
    ).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(RetryLaterError);
    expect(slept).toEqual([]);
    expect(sent).toHaveLength(2);
    expect(progress.at(-1)).toEqual({ parts: 2, total: 3, anchor: 'message-0' });
  });

  it('sends no part of a reply the core withheld, on any channel', async () => {
    const { sender, sent } = recordingSender();
    const reply = { text: THREE_PARTS, withheld: 'not a vote' };
    expect(await sendParts(sender, { envelope: ENVELOPE }, reply, { executionId: 'e7', progress: async () => {} })).toEqual({ parts: 0 });
    const routed = { ...sender, postTo: (_target: string, part: OutboundPart, meta: PartMeta) => sender.send!(ENVELOPE, part, meta) };
    expect(await sendParts(routed, { target: 'C1' }, reply, { executionId: 'e8', progress: async () => {} })).toEqual({ parts: 0 });
    expect(sent).toEqual([]);
  });

  it('sends nothing for a channel without send: the reply is read from the execution', async () => {
    const stored: string[] = [];
    const delivered = await sendParts(
      { channel: 'web' },
      { envelope: ENVELOPE },
      { text: THREE_PARTS },
      { executionId: 'e6', progress: async () => {}, beforeSend: async () => void stored.push('stored') },
    );
    expect(delivered).toEqual({ parts: 0 });
    // Nothing goes out, so the answer is not stored on its own: it rides on the success write.
    expect(stored).toEqual([]);
  });

  it('stores the answer once, before the first part goes out, and not again when every part went out before', async () => {
    const events: string[] = [];
    const sender: ChannelSender = {
      channel: 'telegram',
      limits: { maxLength: 10 },
      async send(_envelope, part) {
        events.push(`sent ${part.index}`);
      },
    };
    const beforeSend = async () => void events.push('stored');
    await sendParts(sender, { envelope: ENVELOPE }, { text: THREE_PARTS }, { executionId: 'e7', progress: async () => {}, beforeSend });
    expect(events).toEqual(['stored', 'sent 0', 'sent 1', 'sent 2']);
    events.length = 0;
    await sendParts(
      sender,
      { envelope: ENVELOPE },
      { text: THREE_PARTS },
      { executionId: 'e7', delivered: { parts: 3 }, progress: async () => {}, beforeSend },
    );
    expect(events).toEqual([]);
  });
});

describe('the outbound step, case by case', () => {
  const noProgress = async () => {};

  it('makes one part of a reply for a sender without limits, composed its way', () => {
    const sender: ChannelSender = { channel: 'github', compose: (reply, to) => `${reply.text} → ${'target' in to ? to.target : 'origin'}` };
    expect(partsOf(sender, { text: 'x'.repeat(100_000) }, { target: 'o/r#1' })).toEqual([
      { text: `${'x'.repeat(100_000)} → o/r#1`, pieces: [`${'x'.repeat(100_000)} → o/r#1`], index: 0, count: 1 },
    ]);
    expect(partsOf({ channel: 'web' }, { text: 'plain' }, { envelope: ENVELOPE })[0]!.text).toBe('plain');
  });

  it('splits by the sender’s measure and fences, and groups its pieces per message', () => {
    const sender: ChannelSender = { channel: 'slack', limits: { maxLength: 10, piecesPerPart: 2, fitting: (text, limit) => Math.min(text.length, limit - 2) } };
    // A measure that counts two more: pieces of eight.
    const parts = partsOf(sender, { text: 'aaaaaaa bbbbbbb ccccccc' }, { envelope: ENVELOPE });
    expect(parts).toEqual([
      { text: 'aaaaaaa\n\nbbbbbbb', pieces: ['aaaaaaa', 'bbbbbbb'], index: 0, count: 2 },
      { text: 'ccccccc', pieces: ['ccccccc'], index: 1, count: 2 },
    ]);
    const fenced = partsOf({ channel: 'telegram', limits: { maxLength: 16, fences: true } }, { text: '```\naaa bbb ccc ddd\n```' }, { envelope: ENVELOPE });
    expect(fenced.map((p) => p.text)).toEqual(['```\naaa bbb\n```', '```\nccc ddd\n```']);
  });

  it('posts to a routing target through postTo, handing each part the execution and the reply', async () => {
    const calls: unknown[] = [];
    const sender: ChannelSender = {
      channel: 'slack',
      limits: { maxLength: 10 },
      async postTo(target, part, meta) {
        calls.push({ target, text: part.text, meta });
        return part.index === 1 ? 'late-anchor' : undefined;
      },
    };
    const reply = { text: 'aaaaaaaaa bbbbbbbbb ccccccccc' };
    const delivered = await sendParts(sender, { target: 'C9' }, reply, { executionId: 'e7', progress: noProgress });
    // Strictly: a part before any anchor gets no `anchor` key at all.
    expect(calls).toStrictEqual([
      { target: 'C9', text: 'aaaaaaaaa', meta: { executionId: 'e7', reply } },
      { target: 'C9', text: 'bbbbbbbbb', meta: { executionId: 'e7', reply } },
      { target: 'C9', text: 'ccccccccc', meta: { executionId: 'e7', reply, anchor: 'late-anchor' } },
    ]);
    // The first anchor a part returns is kept; an empty one is none.
    expect(delivered).toEqual({ parts: 3, total: 3, anchor: 'late-anchor' });
    const empty: ChannelSender = {
      channel: 'slack',
      async postTo() {
        return '';
      },
    };
    expect(await sendParts(empty, { target: 'C9' }, { text: 'x' }, { executionId: 'e8', progress: noProgress })).toEqual({ parts: 1, total: 1 });
    // A sender without postTo delivers nothing to a target.
    expect(await sendParts({ channel: 'web', send: async () => 'x' }, { target: 'C9' }, reply, { executionId: 'e9', progress: noProgress })).toEqual({
      parts: 0,
    });
  });

  it('waits out several RetryLaterErrors while their sum stays within the budget, to the millisecond', async () => {
    const retries = (ms: number[]) =>
      recordingSender((index, attempt) => (index === 0 && attempt <= ms.length ? new RetryLaterError(ms[attempt - 1]!, 'busy') : undefined));
    const slept: number[] = [];
    const sleep = async (ms: number) => void slept.push(ms);
    const within = retries([4000, 6000]);
    await sendParts(within.sender, { envelope: ENVELOPE }, { text: 'short' }, { executionId: 'e1', progress: noProgress, sleep });
    expect(slept).toEqual([4000, 6000]);
    expect(within.sent).toHaveLength(1);
    slept.length = 0;
    const over = retries([4000, 6001]);
    await expect(sendParts(over.sender, { envelope: ENVELOPE }, { text: 'short' }, { executionId: 'e1', progress: noProgress, sleep })).rejects.toBeInstanceOf(
      RetryLaterError,
    );
    expect(slept).toEqual([4000]);
    slept.length = 0;
    const budget = retries([300, 300]);
    await expect(
      sendParts(budget.sender, { envelope: ENVELOPE }, { text: 'short' }, { executionId: 'e1', progress: noProgress, sleep, maxWaitMs: 500 }),
    ).rejects.toBeInstanceOf(RetryLaterError);
    expect(slept).toEqual([300]);
    expect(MAX_WAIT_MS).toBe(10_000);
  });

  it('without a sleep given, waits on a timer for as long as the platform asked', async () => {
    vi.useFakeTimers();
    try {
      const slow = recordingSender((_index, attempt) => (attempt === 1 ? new RetryLaterError(5000, 'busy') : undefined));
      const done = sendParts(slow.sender, { envelope: ENVELOPE }, { text: 'short' }, { executionId: 'e1', progress: noProgress });
      await vi.advanceTimersByTimeAsync(4999);
      expect(slow.sent).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(await done).toEqual({ parts: 1, total: 1, anchor: 'message-0' });
      expect(slow.sent).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('waits with a real timer when given no sleep, and hands any other error on at once', async () => {
    const quick = recordingSender((_index, attempt) => (attempt === 1 ? new RetryLaterError(1, 'busy') : undefined));
    expect(await sendParts(quick.sender, { envelope: ENVELOPE }, { text: 'short' }, { executionId: 'e1', progress: noProgress })).toEqual({
      parts: 1,
      total: 1,
      anchor: 'message-0',
    });
    const broken = recordingSender(() => new Error('platform says no'));
    const slept: number[] = [];
    await expect(
      sendParts(
        broken.sender,
        { envelope: ENVELOPE },
        { text: 'short' },
        { executionId: 'e1', progress: noProgress, sleep: async (ms) => void slept.push(ms) },
      ),
    ).rejects.toThrow('platform says no');
    expect(slept).toEqual([]);
  });

  it('defers for the seconds asked, rounded up, between none and an hour, while deferrals are left', () => {
    expect(deferral(new RetryLaterError(1, 'x'), 0)).toBe(1);
    expect(deferral(new RetryLaterError(-5000, 'x'), 0)).toBe(0);
    expect(deferral(new RetryLaterError(7_200_000, 'x'), 0)).toBe(3600);
    expect(deferral(new RetryLaterError(3_600_000, 'x'), MAX_DEFERRALS - 1)).toBe(3600);
    expect(deferral(new RetryLaterError(1000, 'x'), MAX_DEFERRALS)).toBeUndefined();
    expect(deferral(new Error('x'), 0)).toBeUndefined();
    expect(MAX_DEFERRALS).toBe(20);
  });

  it('delivers an execution to its origin or its destination, and says why it cannot', async () => {
    const sent: string[] = [];
    const recorded: [string, Delivered][] = [];
    const channel = (name: string, extra: Partial<OutboundChannel> = {}): OutboundChannel => ({
      channel: name as OutboundChannel['channel'],
      enabled: true,
      requiredEnv: ['TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET'],
      limits: { maxLength: 10 },
      send: async (_e, part) => void sent.push(`send ${part.text}`),
      postTo: async (target, part) => void sent.push(`post ${target} ${part.text}`),
      ...extra,
    });
    const registry = new Map<string, OutboundChannel>([
      ['web', channel('web')],
      ['telegram', channel('telegram')],
      ['hooks', channel('hooks', { postTo: undefined })],
      ['whatsapp', channel('whatsapp', { enabled: false })],
    ]);
    const slept: number[] = [];
    let calls = 0;
    const flaky = channel('web', {
      send: async () => {
        if (++calls === 1) throw new RetryLaterError(50, 'busy');
      },
    });
    const outbound = createOutbound({
      channel: (name) => (name === 'flaky' ? flaky : registry.get(name)),
      recordDelivered: async (id, d) => void recorded.push([id, d]),
      maxWaitMs: 40,
      sleep: async (ms) => void slept.push(ms),
    });
    const reply = { text: 'aaaaaaaaa bbbbbbbbb ccccccccc' };
    expect(await outbound({ executionId: 'x1', envelope: ENVELOPE }, reply)).toEqual({ parts: 3, total: 3 });
    expect(recorded).toEqual([
      ['x1', { parts: 1, total: 3 }],
      ['x1', { parts: 2, total: 3 }],
    ]);
    expect(
      await outbound({ executionId: 'x2', envelope: ENVELOPE, destination: { channel: 'telegram', target: '-100' }, delivered: { parts: 2 } }, reply),
    ).toEqual({
      parts: 3,
      total: 3,
    });
    expect(await outbound({ executionId: 'x3', envelope: ENVELOPE, destination: null, delivered: null }, { text: 'hi' })).toEqual({ parts: 1, total: 1 });
    expect(sent).toEqual(['send aaaaaaaaa', 'send bbbbbbbbb', 'send ccccccccc', 'post -100 ccccccccc', 'send hi']);
    await expect(outbound({ executionId: 'x4', envelope: { ...ENVELOPE, channel: 'nope' as never } }, reply)).rejects.toThrow(
      'no adapter for channel "nope"; cannot deliver the reply to execution x4',
    );
    await expect(outbound({ executionId: 'x5', envelope: ENVELOPE, destination: { channel: 'hooks', target: 't' } }, reply)).rejects.toThrow(
      'channel "hooks" cannot be a routing destination; cannot deliver execution x5',
    );
    await expect(outbound({ executionId: 'x6', envelope: ENVELOPE, destination: { channel: 'whatsapp', target: '+1' } }, reply)).rejects.toThrow(
      'channel "whatsapp" is disabled: set TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET to deliver execution x6',
    );
    // A disabled origin still answers where it was asked (the worker decides that); only a destination must be enabled.
    expect(await outbound({ executionId: 'x7', envelope: { ...ENVELOPE, channel: 'whatsapp' } }, { text: 'hi' })).toEqual({ parts: 1, total: 1 });
    // The wait budget and the sleep are the step's: 50 ms is over a 40 ms budget.
    await expect(outbound({ executionId: 'x8', envelope: { ...ENVELOPE, channel: 'flaky' as never } }, { text: 'hi' })).rejects.toBeInstanceOf(RetryLaterError);
    expect(slept).toEqual([]);
    const patient = createOutbound({ channel: () => flaky, recordDelivered: async () => {}, sleep: async (ms) => void slept.push(ms) });
    calls = 0;
    expect(await patient({ executionId: 'x9', envelope: ENVELOPE }, { text: 'hi' })).toEqual({ parts: 1, total: 1 });
    expect(slept).toEqual([50]);
  });
});

/** The ask agent answering in three Telegram messages (three paragraphs of about 3,500 characters). */
const threePartAsk: Agent = {
  ...askAgent,
  async run() {
    return { text: [0, 1, 2].map((i) => `Part ${i} ${'word '.repeat(700).trim()}`).join('\n\n') };
  },
};
const agents = () => createAgents().map((a) => (a.name === 'ask' ? threePartAsk : a));

describe.each(databaseKinds)('a long reply delivered to Telegram on %s', (kind) => {
  let fake: FakeTelegram;
  let chatSeq = 0;
  const env = (retryDelay: string) => ({
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
    TELEGRAM_API_ROOT: '',
    RATE_LIMIT_BURST: '1000',
    MAX_ATTEMPTS: '3',
    RETRY_DELAY_SECONDS: retryDelay,
  });
  const chat = () => ({ id: 700_000 + ++chatSeq, type: 'private' as const, first_name: 'Alice' });
  const sendsTo = (chatId: number, from = 0) => fake.calls.slice(from).filter((c) => c.method === 'sendMessage' && c.args.chat_id === chatId);

  beforeAll(async () => {
    fake = await startFakeTelegram();
  });
  afterAll(async () => fake?.close());

  it('a retry in another Switchboard, after part 3 of 3 failed, sends only part 3', async () => {
    // Long enough a backoff that the first instance is stopped before its own retry would run.
    const settings = { ...env('3'), TELEGRAM_API_ROOT: fake.apiRoot };
    const first = await startTestSwitchboard(kind, settings, { agents: agents() });
    const to = chat();
    let second: Awaited<ReturnType<typeof startSwitchboard>> | undefined;
    try {
      fake.fail('sendMessage', 500, 'Internal Server Error: restart', 1, { after: 2 });
      expect((await first.app.request('/telegram/webhook', telegramRequest(messageUpdate('tell me everything', { chat: to })))).status).toBe(200);
      const latest = async () => (await first.api('GET', '/api/executions?channel=telegram&limit=1')).body.executions[0];
      const failed = await waitFor(latest, (e) => e?.status !== undefined && e.status !== 'queued' && e.status !== 'running', 30_000);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
      await first.stop();
      expect(sendsTo(to.id).map((c) => c.status)).toEqual([200, 200, 500]);

      // Another process on the same database: nothing of the first one's memory, only the execution row.
      const before = fake.calls.length;
      second = await startSwitchboard(loadConfig({ ADMIN_TOKEN, LOG_LEVEL: 'silent', ...RELAXED_ACCESS_ENV, ...first.database.env, ...settings }), {
        listen: false,
        logger: createLogger('silent'),
        agents: agents(),
      });
      const store = second.opened.store;
      const done = await waitFor(
        () => store.getExecution(failed.id),
        (e) => e?.status === 'succeeded' || e?.status === 'dead',
        60_000,
      );
      expect(done).toMatchObject({ status: 'succeeded', attempts: 2, delivered: { parts: 3 } });
      const resent = sendsTo(to.id, before);
      expect(resent.map((c) => c.status)).toEqual([200]);
      expect(fake.sent(to.id).map((t) => t.slice(0, 6))).toEqual(['Part 0', 'Part 1', 'Part 2']);
    } finally {
      await second?.stop();
      await first.stop();
      await first.database.drop();
    }
    // Two processes start in turn and the retry waits out a backoff: generous on a loaded machine (nothing here is timed).
  }, 150_000);

  it('a platform rate limit defers the job once, for the wait the platform asked, and the retry sends only what is left', async () => {
    // Nothing is waited in place here, so the deferral shows.
    const sb = await startTestSwitchboard(kind, { ...env('1'), TELEGRAM_API_ROOT: fake.apiRoot }, { agents: agents(), maxRateLimitWaitMs: 0 });
    const to = chat();
    try {
      fake.rateLimit('sendMessage', 1, { after: 1 });
      await sb.app.request('/telegram/webhook', telegramRequest(messageUpdate('tell me everything', { chat: to })));
      const latest = async () => (await sb.api('GET', '/api/executions?channel=telegram&limit=1')).body.executions[0];
      const done = await waitFor(latest, (e) => e?.status === 'succeeded' || e?.status === 'dead', 30_000);
      // A deferral hands the attempt back: one attempt, no failure.
      expect(done).toMatchObject({ status: 'succeeded', attempts: 1, delivered: { parts: 3, total: 3 } });
      expect((await sb.api('GET', `/api/executions/${done.id}`)).body.delivered).toEqual({ parts: 3, total: 3 });
      const calls = sendsTo(to.id);
      expect(calls.map((c) => c.status)).toEqual([200, 429, 200, 200]);
      // The retry came no sooner than Telegram's retry_after.
      expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(900);
      expect(fake.sent(to.id).map((t) => t.slice(0, 6))).toEqual(['Part 0', 'Part 1', 'Part 2']);
      // The CLI lists the same progress, from the same database once this Switchboard let go of it.
      await sb.stop();
      const listed = await runCliInProcess(['executions', '--channel', 'telegram'], { ADMIN_TOKEN, ...sb.database.env });
      expect(listed.output).toContain(`${done.id}  succeeded  telegram  ask        1x  3/3 parts`);
    } finally {
      await sb.close();
    }
  });
});
