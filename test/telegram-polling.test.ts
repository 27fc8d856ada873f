/**
 * TELEGRAM_MODE=polling end to end: a real in-process Switchboard fetches updates from the fake Bot API with the
 * real grammY client (getUpdates long polls), stores them through the same normalize → ingest path as the webhook,
 * and answers them. Only one process polls a bot at a time.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import { DataDirInUseError } from '../db/index.ts';
import { createTelegramAdapter } from '../channels/telegram/index.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startSwitchboard, type Switchboard } from '../src/server.ts';
import { databaseKinds } from './support/databases.ts';
import { ADMIN_TOKEN, RELAXED_ACCESS_ENV, startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import { ALICE, BOB, BOT_TOKEN, messageUpdate, startFakeTelegram, telegramRequest, type FakeTelegram } from './fakes/telegram-api.ts';
import { pipelineIdle, waitFor } from './support/wait.ts';

let chatSeq = 0;
const privateChat = (person = ALICE) => ({ id: person.id + ++chatSeq * 1000, type: 'private' as const, first_name: person.first_name });

describe.each(databaseKinds)('Telegram polling on %s', (kind) => {
  let sb: TestSwitchboard;
  /** The process that polls now: `sb` until a test stops it and another takes over. */
  let running: Switchboard;
  let fake: FakeTelegram;
  let env: Record<string, string>;
  const sentTo = (chatId: number) => fake.ok('sendMessage').filter((c) => c.args.chat_id === chatId);
  const stored = async (s: Switchboard, updateId: number) =>
    rowsOf(await s.opened.handle.db.execute(sql`select 1 from deliveries where channel = 'telegram' and delivery_id = ${String(updateId)}`)).length === 1;
  /** A second Switchboard on the same database, as another `start --role web` process would be. */
  const another = () =>
    startSwitchboard(loadConfig({ ADMIN_TOKEN, LOG_LEVEL: 'silent', ...RELAXED_ACCESS_ENV, ...sb.database.env, ...env }), {
      listen: false,
      poll: true,
      logger: createLogger('silent'),
    });

  beforeAll(async () => {
    fake = await startFakeTelegram();
    // A webhook left from an earlier setup: getUpdates answers 409 until it is removed.
    fake.webhook.url = 'https://old.example.com/telegram/webhook';
    // One message per user at once, refilled every 5 s: a second message is refused at first, then stored. The poller
    // stores a batch one update after another, so the refill must outlast storing the first on a loaded machine.
    env = { TELEGRAM_MODE: 'polling', TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_API_ROOT: fake.apiRoot, RATE_LIMIT_BURST: '1', RATE_LIMIT_PER_MINUTE: '12' };
    sb = await startTestSwitchboard(kind, env, { poll: true });
    running = sb;
  }, 180_000);
  afterAll(async () => {
    await running?.stop();
    await sb?.close();
    await fake?.close();
  });

  it('removes the webhook, then long-polls with the updates set-webhook would allow, and answers what arrives', async () => {
    const chat = privateChat();
    fake.pushUpdate(messageUpdate('what is our deploy process?', { chat, messageId: 42 }));
    const [answer] = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 0,
    );
    expect(answer!.args.reply_parameters).toEqual({ message_id: 42, allow_sending_without_reply: true });
    expect(answer!.args.reply_markup.inline_keyboard[0].map((b: any) => b.text)).toEqual(['👍', '👎']);
    // Calls are recorded when answered: the long poll that carried the update came after deleteWebhook.
    const methods = fake.calls.map((c) => c.method);
    expect(methods.indexOf('deleteWebhook')).toBeGreaterThanOrEqual(0);
    expect(methods.indexOf('deleteWebhook')).toBeLessThan(methods.indexOf('getUpdates'));
    expect(fake.ok('deleteWebhook')[0]!.args).toEqual({ drop_pending_updates: false });
    expect(fake.webhook.url).toBe('');

    const poll = fake.ok('getUpdates').at(-1)!;
    expect(poll.args).toMatchObject({ allowed_updates: ['message', 'callback_query'], timeout: 25, limit: 100 });
  });

  it('takes no webhook posts in polling mode: 401 and nothing stored', async () => {
    const before = await tableCounts(sb);
    const res = await sb.app.request('/telegram/webhook', telegramRequest(messageUpdate('help', { chat: privateChat() })));
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.message).toMatch(/TELEGRAM_MODE=polling/);
    expect(await tableCounts(sb)).toEqual(before);
  });

  it('confirms an update (asks for the next offset) only once it is stored, and a refused one is fetched again until it is', async () => {
    const offsets: { offset: number; storedBefore: boolean }[] = [];
    fake.onGetUpdates = async (args) => {
      if (args.offset !== undefined) offsets.push({ offset: args.offset, storedBefore: await stored(running, args.offset - 1) });
    };
    const chat = privateChat(BOB);
    const first = messageUpdate('first question', { chat, from: BOB });
    const second = messageUpdate('second question', { chat, from: BOB });
    // Both in one batch: the rate limit refuses the second at first, so it must stay unconfirmed and come back.
    fake.pushUpdate(first, second);
    const answers = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length >= 2,
    );
    await waitFor(
      () => fake.unconfirmed(),
      (u) => !u.includes(second.update_id),
    );
    fake.onGetUpdates = undefined;
    expect(answers).toHaveLength(2);
    expect(offsets.length).toBeGreaterThan(0);
    expect(offsets.filter((o) => !o.storedBefore)).toEqual([]);
    // While the second was refused, the poller asked again from it, not past it.
    expect(offsets.some((o) => o.offset === second.update_id)).toBe(true);
    expect(fake.unconfirmed()).not.toContain(second.update_id);
  });

  it('an update stored but not yet confirmed when its process stopped is fetched again by the next poller and answered once', async () => {
    const chat = privateChat();
    const update = messageUpdate('remember this', { chat });
    // Hold the confirming poll until this process has stopped: it dies between storing and confirming.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    fake.onGetUpdates = async (args) => {
      if (args.offset === update.update_id + 1) await held;
    };
    fake.pushUpdate(update);
    await waitFor(() => stored(running, update.update_id), Boolean);
    await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 0,
    );
    await running.stop();
    fake.onGetUpdates = undefined;
    release();
    expect(fake.unconfirmed()).toContain(update.update_id);

    running = await another();
    await waitFor(
      () => fake.unconfirmed().includes(update.update_id),
      (still) => !still,
    );
    await pipelineIdle(running);
    expect(fake.unconfirmed()).not.toContain(update.update_id);
    expect(sentTo(chat.id)).toHaveLength(1);
    const rows = rowsOf<{ n: number }>(
      await running.opened.handle.db.execute(sql`select count(*)::int as n from deliveries where delivery_id = ${String(update.update_id)}`),
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('only one process polls the bot: a second one stands by (PostgreSQL) or cannot open the embedded database (PGlite)', async () => {
    if (kind === 'pglite') {
      await expect(another()).rejects.toBeInstanceOf(DataDirInUseError);
      return;
    }
    const standby = await another();
    {
      const chat = privateChat();
      fake.pushUpdate(messageUpdate('one of us answers', { chat }));
      await waitFor(
        () => sentTo(chat.id),
        (s) => s.length > 0,
      );
      await pipelineIdle(running);
      // A second long poll would have ended the first with 409 (Telegram allows one).
      expect(fake.calls.filter((c) => c.method === 'getUpdates' && c.status === 409)).toEqual([]);
      expect(sentTo(chat.id)).toHaveLength(1);

      // The leader stops: the standby takes the lock and polls.
      await running.stop();
      running = standby;
      const later = privateChat();
      fake.pushUpdate(messageUpdate('are you there?', { chat: later }));
      const answered = await waitFor(
        () => sentTo(later.id),
        (s) => s.length > 0,
      );
      expect(answered).toHaveLength(1);
    }
  });
});

describe('the Telegram poller on its own', () => {
  let fake: FakeTelegram;
  beforeAll(async () => {
    fake = await startFakeTelegram();
  });
  afterAll(async () => {
    await fake?.close();
  });

  /** The adapter's poll loop with a receive that records (or refuses) what it is given, and the log lines it writes. */
  function poller(receive: (update: any) => Promise<void>) {
    const adapter = createTelegramAdapter(loadConfig({ TELEGRAM_MODE: 'polling', TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_API_ROOT: fake.apiRoot }).telegram, {
      pollTimeoutSeconds: 1,
    });
    const logs: { level: string; msg: string }[] = [];
    const log = (level: string) => (obj: object | string, msg?: string) => logs.push({ level, msg: msg ?? String(obj) });
    const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
    const controller = new AbortController();
    const done = adapter.poll!(async (req) => void (await receive(JSON.parse(new TextDecoder().decode(req.body)))), { signal: controller.signal, logger });
    return { logs, stop: () => (controller.abort(), done) };
  }

  it('removes a webhook set while it polls, and says why getUpdates was refused when another client polls the bot', async () => {
    const received: number[] = [];
    let first = messageUpdate('placeholder');
    let second = first;
    const p = poller(async (u) => void received.push(u.update_id));
    try {
      await waitFor(
        () => fake.ok('deleteWebhook').length,
        (n) => n === 1,
      );
      // Someone runs set-webhook meanwhile: getUpdates answers 409 until the poller removes it again.
      fake.webhook.url = 'https://elsewhere.example.com/telegram/webhook';
      first = messageUpdate('after the webhook came back');
      fake.pushUpdate(first);
      await waitFor(
        () => received,
        (r) => r.includes(first.update_id),
      );
      await waitFor(
        () => fake.ok('deleteWebhook').length,
        (n) => n === 2,
      );
      expect(fake.ok('deleteWebhook')).toHaveLength(2);
      expect(fake.webhook.url).toBe('');
      expect(p.logs.some((l) => l.level === 'warn' && /a webhook was set while polling/.test(l.msg))).toBe(true);

      // Another bot instance elsewhere: Telegram answers 409 "terminated by other getUpdates request".
      fake.fail('getUpdates', 409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running', 1);
      second = messageUpdate('after the conflict');
      fake.pushUpdate(second);
      await waitFor(
        () => received,
        (r) => r.includes(second.update_id),
      );
      // The long poll in flight may carry the update first; the 409 then answers the next one.
      const conflict = await waitFor(() => p.logs.find((l) => /Another client polls this bot/.test(l.msg)), Boolean);
      expect(conflict?.msg).toMatch(/TELEGRAM_BOT_TOKEN|bot token/);
      expect(conflict?.msg).toMatch(/retrying in \d+ s/);
    } finally {
      await p.stop();
    }
    // Each once, in order: nothing was lost or fetched twice across the refusals.
    expect(received).toEqual([first.update_id, second.update_id]);
  });

  it('backs off when getUpdates fails or an update cannot be stored, and loses nothing', async () => {
    const received: number[] = [];
    // What the last poller stored but never confirmed (it stopped first) comes again, before anything new.
    const leftover = fake.unconfirmed();
    let refuse = 2;
    const p = poller(async (u) => {
      if (refuse-- > 0) throw Object.assign(new Error('database is down'), { retryAfterSeconds: 1 });
      received.push(u.update_id);
    });
    try {
      fake.fail('getUpdates', 401, 'Unauthorized', 1);
      const update = messageUpdate('still here?');
      fake.pushUpdate(update);
      await waitFor(
        () => received,
        (r) => r.includes(update.update_id),
      );
      expect(received).toEqual([...leftover, update.update_id]);
      // The long poll in flight may carry the update first; the 401 then answers the next one.
      const refused = await waitFor(() => p.logs.find((l) => l.level === 'warn' && /refused the token .*check TELEGRAM_BOT_TOKEN/.test(l.msg)), Boolean);
      expect(refused).toBeDefined();
      const warnings = p.logs.filter((l) => l.level === 'warn').map((l) => l.msg);
      expect(warnings.filter((m) => /could not be stored; it stays unconfirmed; retrying in 1 s/.test(m))).toHaveLength(2);
    } finally {
      await p.stop();
    }
  });

  it('stops promptly when asked, even in the middle of a long poll', async () => {
    const p = poller(async () => {});
    await waitFor(
      () => fake.calls.length,
      (n) => n > 0,
    );
    await new Promise((r) => setTimeout(r, 100));
    await expect(p.stop()).resolves.toBeUndefined();
  });
});
