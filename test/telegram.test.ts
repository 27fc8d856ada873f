/**
 * Telegram end to end: a real in-process Switchboard on each test database, updates posted as Telegram posts them
 * (secret token header), and the real grammY client talking to the fake Bot API through TELEGRAM_API_ROOT.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_INFO_SETTING } from '../channels/telegram/index.ts';
import { rowsOf } from '../db/rows.ts';
import { askAgent } from '../src/agents/ask.ts';
import { createAgents } from '../src/agents/index.ts';
import type { Agent } from '../src/ports.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import {
  ALICE,
  BOB,
  BOT_ID,
  BOT_TOKEN,
  BOT_USERNAME,
  callbackUpdate,
  messageUpdate,
  startFakeTelegram,
  telegramRequest,
  WEBHOOK_SECRET,
  type FakeTelegram,
} from './fakes/telegram-api.ts';
import { pipelineIdle, waitFor } from './support/wait.ts';

// Paragraphs of ordinary words: any cut inside a word would show as a fragment that is not one of them.
const LONG = Array.from({ length: 14 }, (_, i) => `Step ${i}: ${Array.from({ length: 90 }, (_, j) => `carefully${j}`).join(' ')}.`).join('\n\n');
const NASTY = [
  'Compare a < b && c > d, then <script>alert(1)</script> & done.',
  'Half-open **bold and a lone * star, an _underscore and a [link](',
  '`inline <code> & stuff` then **really bold**',
  '```ts\nif (a < b && b > c) { return "<ok>"; }\n```',
  'and an unclosed fence: ``` here',
].join('\n');

const agents: Agent[] = createAgents().map((agent) => {
  if (agent.name === 'ask') {
    return {
      ...askAgent,
      async run(ctx) {
        if (ctx.envelope.text.startsWith('LONG')) return { text: LONG, feedback: true };
        if (ctx.envelope.text.startsWith('NASTY')) return { text: NASTY, feedback: true };
        return askAgent.run(ctx);
      },
    };
  }
  return agent;
});

let chatSeq = 0;
/** A fresh private chat with `person`, so each test reads only its own messages. */
const privateChat = (person = ALICE) => ({ id: person.id + ++chatSeq * 1000, type: 'private' as const, first_name: person.first_name });
const group = () => ({ id: -100_555_000_000 - ++chatSeq, type: 'supergroup' as const, title: 'Ops' });

describe.each(databaseKinds)('Telegram channel on %s', (kind) => {
  let sb: TestSwitchboard;
  let fake: FakeTelegram;
  const send = (update: unknown, opts?: Parameters<typeof telegramRequest>[1]) => sb.app.request('/telegram/webhook', telegramRequest(update, opts));
  const sentTo = (chatId: number) => fake.ok('sendMessage').filter((c) => c.args.chat_id === chatId);
  const execution = async (where: string) => (await sb.api('GET', `/api/executions?channel=telegram&${where}&limit=1`)).body.executions[0];
  /** The latest execution matching `where`, once it has finished (the reply is sent just before it is marked so). */
  const finished = (where: string) =>
    waitFor(
      () => execution(where),
      (e) => e?.status === 'succeeded' || e?.status === 'dead',
    );

  beforeAll(async () => {
    fake = await startFakeTelegram();
    sb = await startTestSwitchboard(
      kind,
      { TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET, TELEGRAM_API_ROOT: fake.apiRoot, RATE_LIMIT_BURST: '1000' },
      { agents },
    );
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
  });

  it('answers a private message as a reply to it, with 👍/👎 buttons naming the execution, and no getMe', async () => {
    const chat = privateChat();
    const update = messageUpdate('what is our deploy process?', { chat, messageId: 42 });
    const res = await send(update);
    expect(res.status).toBe(200);
    const [answer] = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 0,
    );
    expect(answer!.args.reply_parameters).toEqual({ message_id: 42, allow_sending_without_reply: true });
    const buttons = answer!.args.reply_markup.inline_keyboard[0];
    const ask = await finished('agent=ask');
    expect(buttons.map((b: any) => b.text)).toEqual(['👍', '👎']);
    expect(buttons.map((b: any) => b.callback_data)).toEqual([`fb:${ask.id}:+1`, `fb:${ask.id}:-1`]);
    for (const b of buttons) expect(Buffer.byteLength(b.callback_data)).toBeLessThanOrEqual(64);
    expect(ask).toMatchObject({ status: 'succeeded', args: { question: 'what is our deploy process?' } });
    // The bot id comes from the token and private chats need no username: the bot never asked who it is.
    expect(fake.calls.filter((c) => c.method === 'getMe')).toEqual([]);
  });

  it('in a group answers only commands, @mentions and replies to the bot; other messages store nothing', async () => {
    const chat = group();
    const before = await tableCounts(sb);
    const ignored = [
      messageUpdate('just chatting about lunch', { chat }),
      messageUpdate('hey @someone_else what do you think?', { chat }),
      messageUpdate(`/help@OtherHelperBot`, { chat }),
      messageUpdate('/weather tomorrow', { chat }),
      messageUpdate('replying to a person', { chat, replyTo: { message_id: 1, from: { id: BOB.id, is_bot: false, first_name: 'Bob' }, chat, date: 0 } }),
    ];
    for (const update of ignored) {
      const res = await send(update);
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).ignored).toEqual(expect.any(String));
    }
    await pipelineIdle(sb);
    expect(await tableCounts(sb)).toEqual(before);
    expect(sentTo(chat.id)).toEqual([]);

    await send(messageUpdate(`@${BOT_USERNAME} how do we roll back a deploy?`, { chat }));
    await send(messageUpdate(`/status@${BOT_USERNAME}`, { chat }));
    await send(messageUpdate('/help', { chat }));
    const replies = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length >= 3,
    );
    const [answer] = replies;
    await send(messageUpdate('and what about the database?', { chat, replyTo: answer!.result as Record<string, unknown> }));
    await waitFor(
      () => sentTo(chat.id),
      (s) => s.length >= 4,
    );
    await pipelineIdle(sb);
    expect(sentTo(chat.id)).toHaveLength(4);
    expect((await tableCounts(sb)).executions).toBe(before.executions + 4);

    const { body } = await sb.api('GET', `/api/conversations/${(await execution('agent=ask')).conversation_id}`);
    const texts = body.messages.filter((m: any) => m.role === 'user').map((m: any) => m.text);
    // The bot's own name is stripped: what is stored reads as the question asked.
    expect(texts).toEqual(['how do we roll back a deploy?', '/status', '/help', 'and what about the database?']);
    // The username was needed to tell our @mention from others: with none stored yet, asked once, and stored for
    // the next start (where `telegram set-webhook` would have stored it already).
    expect(fake.ok('getMe')).toHaveLength(1);
    const stored = await waitFor(() => sb.opened.store.setting(BOT_INFO_SETTING), Boolean);
    expect(JSON.parse(stored!)).toMatchObject({ id: BOT_ID, username: BOT_USERNAME });
  });

  it('routes the commands: /help lists them, /ask carries the question, /summarize reads the chat history', async () => {
    const chat = privateChat();
    await send(messageUpdate('/help', { chat }));
    const [help] = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 0,
    );
    expect(help!.visible).toMatch(/summarize/);
    expect(help!.args.reply_markup).toBeUndefined(); // help is not rated

    await send(messageUpdate(`/ask@${BOT_USERNAME} The billing deploy failed because the migration timed out. Why?`, { chat }));
    await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 1,
    );
    expect((await execution('agent=ask')).args).toEqual({ question: 'The billing deploy failed because the migration timed out. Why?' });

    await send(messageUpdate('/summarize', { chat }));
    const replies = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 2,
    );
    expect(replies[2]!.visible).toMatch(/migration/i);
    expect((await finished('agent=summarize')).status).toBe('succeeded');
  });

  it('keeps each forum topic a conversation of its own and answers inside the topic', async () => {
    const chat = { id: -100_888_000_001, type: 'supergroup' as const, title: 'Forum', is_forum: true };
    await send(messageUpdate('/ask what is in topic seven?', { chat, threadId: 7 }));
    await send(messageUpdate('/ask what is in topic nine?', { chat, threadId: 9 }));
    const replies = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 1,
    );
    expect(replies.map((r) => r.args.message_thread_id).sort()).toEqual([7, 9]);
    const rows = rowsOf<{ conversation_key: string }>(
      await sb.opened.handle.db.execute(
        sql`select conversation_key from conversations where channel = 'telegram' and conversation_key like ${`${chat.id}:%`} order by 1`,
      ),
    );
    expect(rows.map((r) => r.conversation_key)).toEqual([`${chat.id}:7`, `${chat.id}:9`]);
  });

  it('a 👍 press stores feedback on that execution, answers the callback and marks the vote; a redelivered press is stored once', async () => {
    const chat = privateChat();
    await send(messageUpdate('how do I restart the worker?', { chat }));
    const [answer] = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 0,
    );
    const [up] = answer!.args.reply_markup.inline_keyboard[0];
    const executionId = /^fb:(.+):\+1$/.exec(up.callback_data)![1]!;
    const before = await tableCounts(sb);

    const press = callbackUpdate(up.callback_data, answer!.result as any);
    expect((await send(press)).status).toBe(200);
    const [answered] = await waitFor(
      () => fake.ok('answerCallbackQuery').filter((c) => c.args.callback_query_id === press.callback_query.id),
      (a) => a.length > 0,
    );
    expect(answered!.args.text).toMatch(/recorded 👍/);
    const [edit] = await waitFor(
      () => fake.ok('editMessageReplyMarkup').filter((c) => c.args.chat_id === chat.id),
      (e) => e.length > 0,
    );
    expect(edit!.args.message_id).toBe((answer!.result as any).message_id);
    expect(edit!.args.reply_markup.inline_keyboard[0].map((b: any) => b.text)).toEqual(['👍 ✓', '👎']);
    const votes = rowsOf(await sb.opened.handle.db.execute(sql`select user_id, score, channel from feedback where execution_id = ${executionId}`));
    expect(votes).toEqual([{ user_id: String(ALICE.id), score: 1, channel: 'telegram' }]);

    const counts = await tableCounts(sb);
    expect(counts.feedback).toBe(before.feedback + 1);
    expect((await send(press)).status).toBe(200);
    await pipelineIdle(sb);
    expect(await tableCounts(sb)).toEqual(counts);
    expect(fake.ok('answerCallbackQuery').filter((c) => c.args.callback_query_id === press.callback_query.id)).toHaveLength(1);
  });

  it('a 👍 button naming an execution that does not exist records nothing, and the presser is told', async () => {
    const chat = privateChat(BOB);
    await send(messageUpdate('where are the deploy logs?', { chat, from: BOB }));
    const [answer] = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 0,
    );
    await finished('agent=ask');
    const before = await tableCounts(sb);
    const ghost = callbackUpdate('fb:00000000-0000-4000-8000-000000000000:+1', answer!.result as any, BOB);
    await send(ghost);
    const [alert] = await waitFor(
      () => fake.ok('answerCallbackQuery').filter((c) => c.args.callback_query_id === ghost.callback_query.id),
      (a) => a.length > 0,
    );
    expect(alert!.args).toMatchObject({ show_alert: true, text: expect.stringMatching(/no earlier answer/i) });
    expect((await tableCounts(sb)).feedback).toBe(before.feedback);
  });

  it('a long answer replies to the question with its first message only, and carries the 👍/👎 buttons on its last', async () => {
    const chat = privateChat();
    await send(messageUpdate('LONG answer please', { chat, messageId: 77 }));
    await waitFor(
      () => sentTo(chat.id),
      (s) => s.at(-1)?.args.reply_markup !== undefined,
    );
    const parts = sentTo(chat.id);
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.map((p) => p.args.reply_parameters?.message_id)).toEqual([77, ...parts.slice(1).map(() => undefined)]);
    expect(parts.map((p) => p.args.reply_markup !== undefined)).toEqual([...parts.slice(1).map(() => false), true]);
  });

  it('sends text full of <, &, stray Markdown and code as valid HTML that shows exactly what the agent wrote', async () => {
    const chat = privateChat();
    await send(messageUpdate('NASTY text please', { chat }));
    const [answer] = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 0,
    );
    expect(answer!.args.parse_mode).toBe('HTML');
    expect(answer!.visible).toContain('Compare a < b && c > d, then <script>alert(1)</script> & done.');
    expect(answer!.visible).toContain('Half-open **bold and a lone * star, an _underscore and a [link](');
    expect(answer!.visible).toContain('inline <code> & stuff then really bold');
    expect(answer!.visible).toContain('if (a < b && b > c) { return "<ok>"; }');
    expect(answer!.args.text).toContain('<b>really bold</b>');
    expect(answer!.args.text).toContain('<pre><code class="language-ts">');
  });

  it('falls back to plain text when Telegram cannot parse the entities, so the answer still arrives once', async () => {
    const chat = privateChat();
    fake.fail('sendMessage', 400, 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3');
    await send(messageUpdate('NASTY again', { chat }));
    const [answer] = await waitFor(
      () => sentTo(chat.id),
      (s) => s.length > 0,
    );
    expect(answer!.args.parse_mode).toBeUndefined();
    expect(answer!.visible).toBe(NASTY);
    await pipelineIdle(sb);
    expect(sentTo(chat.id)).toHaveLength(1);
    expect(fake.calls.filter((c) => c.method === 'sendMessage' && c.args.chat_id === chat.id && c.status === 400)).toHaveLength(1);
  });
});
