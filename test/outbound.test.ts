/**
 * The outbound step: a reply split by the sender's measure, sent part by part, what was delivered kept on the
 * execution (so a retry in another process sends only what is left), and a platform's "retry later" handled once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAgent } from '../src/agents/ask.ts';
import { createAgents } from '../src/agents/index.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { sendParts } from '../src/pipeline/outbound.ts';
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
