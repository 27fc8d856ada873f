/** The Telegram adapter on its own: the secret header, the updates it reads, and how it writes within Telegram's limits. */
import { Api } from 'grammy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  botIdFromToken,
  createTelegramAdapter,
  createTelegramSender,
  normalizeTelegram,
  parseBotInfo,
  parseTarget,
  parseVoteData,
  composeReply,
  renderHtml,
  TELEGRAM_LIMITS,
  verifyTelegram,
  voteData,
  type NormalizeOptions,
} from '../channels/telegram/index.ts';
import { loadConfig } from '../src/config.ts';
import { NormalizeError, VerificationError, type RawRequest } from '../src/ports.ts';
import { splitMessage } from '../src/split.ts';
import type { Envelope } from '../src/types.ts';
import {
  ALICE,
  BOT_ID,
  BOT_TOKEN,
  BOT_USERNAME,
  callbackUpdate,
  messageUpdate,
  parseTelegramHtml,
  startFakeTelegram,
  telegramRequest,
  WEBHOOK_SECRET,
  type FakeTelegram,
} from './fakes/telegram-api.ts';
import { outbound } from './support/outbound.ts';
import { senderContract } from './support/sender-contract.ts';

const NOW = new Date('2025-06-01T12:00:00Z');
const EXECUTION = '0f8fad5b-d9cb-469f-a165-70867728950e';

function raw(init: RequestInit): RawRequest {
  return { body: new TextEncoder().encode(init.body as string), headers: new Headers(init.headers), url: 'http://localhost/telegram/webhook', params: {} };
}

function verifyCode(init: RequestInit, secret: string | undefined = WEBHOOK_SECRET): string | undefined {
  try {
    verifyTelegram(raw(init), secret);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    return (err as VerificationError).code;
  }
}

/** Normalize options that count how often the bot's username had to be looked up. */
function options() {
  const lookups = { count: 0 };
  const opts: NormalizeOptions = { now: () => NOW, botId: BOT_ID, username: async () => (lookups.count++, BOT_USERNAME) };
  return { opts, lookups };
}

const normalize = (update: unknown, opts = options().opts) => normalizeTelegram(raw(telegramRequest(update)), opts);

async function only(update: unknown, opts?: NormalizeOptions): Promise<Envelope> {
  const result = await normalize(update, opts);
  expect(Array.isArray(result)).toBe(true);
  expect(result).toHaveLength(1);
  return (result as Envelope[])[0]!;
}

const supergroup = { id: -1001234567890, type: 'supergroup' as const, title: 'Ops' };

describe('the Telegram secret token', () => {
  it('accepts exactly the configured secret and refuses everything else', () => {
    expect(verifyCode(telegramRequest({}))).toBeUndefined();
    expect(verifyCode(telegramRequest({}, { secret: 'wrong' }))).toBe('bad_signature');
    expect(verifyCode(telegramRequest({}, { secret: `${WEBHOOK_SECRET}0` }))).toBe('bad_signature');
    expect(verifyCode(telegramRequest({}, { secret: WEBHOOK_SECRET.toUpperCase() }))).toBe('bad_signature');
    expect(verifyCode(telegramRequest({}, { secret: null }))).toBe('missing_signature');
    expect(() => verifyTelegram(raw(telegramRequest({})), undefined)).toThrow(expect.objectContaining({ code: 'not_configured' }));
  });
});

describe('Telegram updates → envelopes', () => {
  it('a private message becomes a message in the chat, answered as a reply to it', async () => {
    const update = messageUpdate('how do we deploy?', { messageId: 9, updateId: 123456 });
    const envelope = await only(update);
    expect(envelope).toMatchObject({
      channel: 'telegram',
      deliveryId: '123456',
      tenantId: String(ALICE.id),
      conversationKey: String(ALICE.id),
      userId: String(ALICE.id),
      userName: 'alice',
      text: 'how do we deploy?',
      replyRef: { kind: 'message', chatId: ALICE.id, messageId: 9 },
      receivedAt: NOW.toISOString(),
    });
    expect(envelope.replyRef).not.toHaveProperty('threadId');
  });

  it('reads /start as help, keeps the command with its argument, and strips a @name from it', async () => {
    expect((await only(messageUpdate('/start'))).text).toBe('help');
    expect((await only(messageUpdate(`/ask@${BOT_USERNAME}   why is CI red?`))).text).toBe('/ask why is CI red?');
    expect((await only(messageUpdate('/summarize', { chat: supergroup }))).text).toBe('/summarize');
  });

  it('in a group, takes a @mention (by name or as a text mention) and strips it; a bare mention asks for help', async () => {
    const { opts, lookups } = options();
    expect((await only(messageUpdate(`hey @${BOT_USERNAME.toLowerCase()} what broke?`, { chat: supergroup }), opts)).text).toBe('hey what broke?');
    expect((await only(messageUpdate(`@${BOT_USERNAME}`, { chat: supergroup }), opts)).text).toBe('help');
    const textMention = messageUpdate('Switchboard status please', {
      chat: supergroup,
      extra: { entities: [{ type: 'text_mention', offset: 0, length: 11, user: { id: BOT_ID, is_bot: true, first_name: 'Switchboard' } }] },
    });
    expect((await only(textMention, opts)).text).toBe('status please');
    expect(lookups.count).toBeGreaterThan(0);
  });

  it('in a group, takes a reply to one of our messages without looking up our name', async () => {
    const { opts, lookups } = options();
    const reply = messageUpdate('and the database?', {
      chat: supergroup,
      replyTo: { message_id: 5, from: { id: BOT_ID, is_bot: true, first_name: 'Switchboard' }, chat: supergroup, date: 0 },
    });
    expect((await only(reply, opts)).text).toBe('and the database?');
    expect(lookups.count).toBe(0);
  });

  it.each([
    ['plain group chatter', messageUpdate('lunch at noon?', { chat: supergroup })],
    ["another bot's command", messageUpdate('/help@OtherHelperBot', { chat: supergroup })],
    ['a command that is not ours', messageUpdate('/weather', { chat: supergroup })],
    ['a mention of someone else', messageUpdate('ask @someone_else', { chat: supergroup })],
    ['a message from a bot', messageUpdate('help', { from: { id: 999, first_name: 'Bot' }, extra: { from: { id: 999, is_bot: true, first_name: 'Bot' } } })],
    [
      'a sticker',
      {
        update_id: 1,
        message: { message_id: 1, date: 0, chat: { id: 5, type: 'private' }, from: { id: 5, is_bot: false, first_name: 'A' }, sticker: { file_id: 'x' } },
      },
    ],
    ['an edited message', { update_id: 2, edited_message: { message_id: 1, date: 0, edit_date: 1, chat: { id: 5, type: 'private' }, text: 'help' } }],
    ['a channel post', { update_id: 3, channel_post: { message_id: 1, date: 0, chat: { id: -100, type: 'channel' }, text: 'help' } }],
    ['a button that is not a vote', callbackUpdate('something-else', { message_id: 1, chat: { id: 5, type: 'private' } })],
    ['a vote naming something that is not an execution id', callbackUpdate("fb:1' or 1=1:+1", { message_id: 1, chat: { id: 5, type: 'private' } })],
  ])('ignores %s', async (_, update) => {
    expect(await normalize(update)).toEqual({ ignore: expect.any(String) });
  });

  it('reads the caption of a photo as its text', async () => {
    const photo = messageUpdate('', { extra: { text: undefined, caption: 'what is in this graph?', photo: [{ file_id: 'p', width: 1, height: 1 }] } });
    expect((await only(photo)).text).toBe('what is in this graph?');
  });

  it('keys a forum topic by chat and topic, and answers inside it', async () => {
    const envelope = await only(messageUpdate('/status', { chat: { ...supergroup, is_forum: true }, threadId: 42 }));
    expect(envelope.conversationKey).toBe(`${supergroup.id}:42`);
    expect(envelope.tenantId).toBe(String(supergroup.id));
    expect(envelope.replyRef).toMatchObject({ threadId: 42 });
  });

  it('a 👎 press becomes a feedback envelope naming the execution, in the chat of the rated message', async () => {
    const update = callbackUpdate(`fb:${EXECUTION}:-1`, { message_id: 77, chat: supergroup }, ALICE, 555);
    const envelope = await only(update);
    expect(envelope).toMatchObject({
      deliveryId: '555',
      agent: 'feedback',
      text: '-1',
      args: { score: -1, executionId: EXECUTION },
      conversationKey: String(supergroup.id),
      userId: String(ALICE.id),
      replyRef: { kind: 'vote', chatId: supergroup.id, messageId: 77, callbackQueryId: update.callback_query.id, score: -1 },
    });
  });

  it('refuses a body that is not a Telegram update with 400', async () => {
    await expect(normalizeTelegram(raw(telegramRequest(undefined, { body: '{"update_id":' })), options().opts)).rejects.toMatchObject({
      code: 'malformed_json',
      status: 400,
    });
    await expect(normalize({ message: { text: 'hi' } })).rejects.toBeInstanceOf(NormalizeError);
  });
});

describe('the Telegram adapter', () => {
  const telegram = (env: Record<string, string>) => loadConfig({ DATA_DIR: '/tmp/unused', ...env }).telegram;

  it('is off without its settings, naming them', () => {
    const adapter = createTelegramAdapter(telegram({ TELEGRAM_BOT_TOKEN: BOT_TOKEN }));
    expect(adapter.enabled).toBe(false);
    expect(adapter.requiredEnv).toEqual(['TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET']);
  });

  it('refuses to start with a token that is not a bot token, saying what to do', () => {
    expect(() => createTelegramAdapter(telegram({ TELEGRAM_BOT_TOKEN: 'xoxb-slack', TELEGRAM_WEBHOOK_SECRET: 's' }))).toThrow(/@BotFather/);
    expect(() => createTelegramAdapter(telegram({ TELEGRAM_BOT_TOKEN: 'xoxb-slack', TELEGRAM_MODE: 'polling' }))).toThrow(/@BotFather/);
    const webhook = createTelegramAdapter(telegram({ TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET: 's' }));
    expect(webhook.enabled).toBe(true);
    expect(webhook.poll).toBeUndefined();
  });

  it('in polling mode is on with the token alone, polls, and refuses webhook posts', () => {
    const adapter = createTelegramAdapter(telegram({ TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_MODE: 'polling' }));
    expect(adapter.enabled).toBe(true);
    expect(adapter.requiredEnv).toEqual(['TELEGRAM_BOT_TOKEN']);
    expect(adapter.poll).toBeTypeOf('function');
    expect(() => adapter.verify(raw(telegramRequest(messageUpdate('help'))))).toThrow(/TELEGRAM_MODE=polling/);
    const off = createTelegramAdapter(telegram({ TELEGRAM_MODE: 'polling' }));
    expect([off.enabled, off.requiredEnv]).toEqual([false, ['TELEGRAM_BOT_TOKEN']]);
  });

  it('uses stored bot info only when it is this bot’s: another bot’s (the token changed) is ignored', () => {
    const me = { id: BOT_ID, is_bot: true, first_name: 'Switchboard', username: BOT_USERNAME };
    expect(parseBotInfo(JSON.stringify(me), BOT_TOKEN)).toEqual(me);
    expect(parseBotInfo(JSON.stringify({ ...me, id: 42 }), BOT_TOKEN)).toBeUndefined();
    expect(parseBotInfo('not json', BOT_TOKEN)).toBeUndefined();
    expect(parseBotInfo(undefined, BOT_TOKEN)).toBeUndefined();
  });
});

describe('feedback buttons', () => {
  it('carry the execution and the score in at most 64 bytes, and read back', () => {
    const data = voteData(EXECUTION, 1)!;
    expect(Buffer.byteLength(data)).toBeLessThanOrEqual(64);
    expect(parseVoteData(data)).toEqual({ executionId: EXECUTION, score: 1 });
    expect(parseVoteData(voteData(EXECUTION, -1))).toEqual({ executionId: EXECUTION, score: -1 });
    expect(voteData('not-a-uuid', 1)).toBeUndefined();
  });

  it('a bot token names the bot user', () => {
    expect(botIdFromToken(BOT_TOKEN)).toBe(BOT_ID);
    expect(botIdFromToken('nonsense')).toBeUndefined();
  });
});

/** A deterministic pseudo-random generator, so a failing case can be reproduced. */
function random(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe('writing within Telegram limits', () => {
  const splitText = (text: string, limit = TELEGRAM_LIMITS.maxLength) => splitMessage(text, { limit, fences: TELEGRAM_LIMITS.fences });
  const words = (s: string) => s.split(/\s+/).filter(Boolean);

  it('keeps a short answer whole', () => {
    expect(splitText('one line')).toEqual(['one line']);
  });

  it('never cuts inside a word, keeps every piece within the limit, and loses nothing but whitespace', () => {
    const next = random(7);
    for (let round = 0; round < 40; round++) {
      const text = Array.from({ length: 300 + Math.floor(next() * 900) }, () => {
        const word = 'x'.repeat(1 + Math.floor(next() * 14));
        const r = next();
        return r < 0.05 ? `${word}\n\n` : r < 0.15 ? `${word}\n` : `${word} `;
      }).join('');
      const limit = 200 + Math.floor(next() * 600);
      const parts = splitText(text, limit);
      for (const part of parts) expect(part.length).toBeLessThanOrEqual(limit);
      expect(words(parts.join(' '))).toEqual(words(text));
    }
  });

  it('prefers a paragraph break, and cuts a word only when it is longer than a message, never inside an emoji', () => {
    const paragraphs = ['a'.repeat(30), 'b '.repeat(20).trim(), 'c'.repeat(10)].join('\n\n');
    expect(splitText(paragraphs, 45)).toEqual(['a'.repeat(30), 'b '.repeat(20).trim(), 'c'.repeat(10)]);
    const emoji = '😀'.repeat(3000);
    const parts = splitText(emoji);
    expect(parts.join('')).toBe(emoji);
    expect(parts.every((p) => p.length <= 4096 && !/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(p))).toBe(true);
  });

  it('closes a code fence at a cut and reopens it in the next piece', () => {
    const code = `\`\`\`\n${Array.from({ length: 600 }, (_, i) => `line ${i} of code`).join('\n')}\n\`\`\``;
    const parts = splitText(code);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect((part.match(/```/g) ?? []).length % 2).toBe(0);
  });

  it('splits fenced code with no line break into pieces of at most 4,096 characters, markers included, losing nothing', () => {
    // The plain-text fallback sends a piece as it is, so the fence markers a cut adds count against the limit too.
    for (const code of ['x'.repeat(9000), `${'y'.repeat(5000)} ${'z'.repeat(5000)}`]) {
      for (const text of [`\`\`\`${code}\`\`\``, `\`\`\`\n${code}\n\`\`\``, `Output: \`\`\`${code}\`\`\``]) {
        const parts = splitText(text);
        expect(parts.length).toBeGreaterThan(2);
        for (const part of parts) {
          expect(part.length).toBeLessThanOrEqual(4096);
          expect((part.match(/```/g) ?? []).length % 2).toBe(0);
        }
        // Parsed, the pieces show all the code (none of it taken for a language name and dropped).
        const shown = parts.map((part) => (parseTelegramHtml(renderHtml(part)) as { text: string }).text).join('');
        expect(shown.replace(/^Output:/, '').replace(/[\n ]/g, '')).toBe(code.replace(' ', ''));
      }
    }
  });

  it('renders any text as HTML Telegram accepts, showing no more characters than the text had', () => {
    const next = random(11);
    const alphabet = ['a', 'b', ' ', '\n', '<', '>', '&', '*', '**', '`', '```', '```ts\n', '_', '"', '&amp;', '<b>', '😀'];
    for (let round = 0; round < 500; round++) {
      const text = Array.from({ length: Math.floor(next() * 60) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
      const parsed = parseTelegramHtml(renderHtml(text));
      expect(parsed, JSON.stringify(text)).not.toHaveProperty('error');
      expect((parsed as { text: string }).text.length).toBeLessThanOrEqual(text.length);
    }
    expect(renderHtml('a <b> & **c**')).toBe('a &lt;b&gt; &amp; <b>c</b>');
  });

  it('reads routing destinations: a chat id, @channel, or chat:topic', () => {
    expect(parseTarget('-1001234567890')).toEqual({ chatId: -1001234567890 });
    expect(parseTarget('-1001234567890:42')).toEqual({ chatId: -1001234567890, threadId: 42 });
    expect(parseTarget('@switchboard_news')).toEqual({ chatId: '@switchboard_news' });
    expect(() => parseTarget('general')).toThrow(/chat id/);
  });
});

/** The Telegram sender behind the outbound step, as the worker runs it. */
const telegramSender = (fake: FakeTelegram) =>
  outbound({
    channel: 'telegram',
    limits: TELEGRAM_LIMITS,
    compose: composeReply,
    ...createTelegramSender({ api: new Api(BOT_TOKEN, { apiRoot: fake.apiRoot }) }),
  });
const chatEnvelope = (chatId: number): Envelope => ({
  channel: 'telegram',
  deliveryId: '1',
  tenantId: String(chatId),
  conversationKey: String(chatId),
  userId: '1',
  text: 'q',
  receivedAt: NOW.toISOString(),
  replyRef: { kind: 'message', chatId, messageId: 3 },
});

let senderFake: FakeTelegram;
senderContract({
  name: 'Telegram',
  async start() {
    senderFake = await startFakeTelegram();
    return { sender: telegramSender(senderFake), close: () => senderFake.close() };
  },
  envelope: (n) => chatEnvelope(600 + n),
  sent: (n) => senderFake.sent(600 + n),
  rateLimit: (seconds, after = 0) => senderFake.rateLimit('sendMessage', seconds, { after }),
  wordsPerMessage: 700,
});

describe('the Telegram sender, through the real grammY client', () => {
  let fake: FakeTelegram;
  beforeAll(async () => {
    fake = await startFakeTelegram();
  });
  afterAll(async () => {
    await fake?.close();
  });
  const sender = () => telegramSender(fake);
  const envelope = chatEnvelope;

  it('records a vote even when the press is too old to answer, and treats an unchanged keyboard as done', async () => {
    const vote: Envelope = { ...envelope(503), replyRef: { kind: 'vote', chatId: 503, messageId: 8, callbackQueryId: 'cq-1', score: 1 } };
    fake.fail('answerCallbackQuery', 400, 'Bad Request: query is too old and response timeout expired or query ID is invalid');
    await sender().reply(vote, { text: 'Thanks — recorded 👍', data: { executionId: EXECUTION } }, { executionId: 'x' });
    expect(fake.ok('editMessageReplyMarkup').filter((c) => c.args.chat_id === 503)).toHaveLength(1);
    fake.fail('editMessageReplyMarkup', 400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same');
    await expect(sender().reply(vote, { text: 'Thanks — recorded 👍', data: { executionId: EXECUTION } }, { executionId: 'x' })).resolves.toBeUndefined();
  });

  it('says what to fix when Telegram refuses for a reason the operator can address', async () => {
    fake.fail('sendMessage', 403, 'Forbidden: bot was blocked by the user');
    await expect(sender().reply(envelope(504), { text: 'hi' }, { executionId: EXECUTION })).rejects.toThrow(/blocked the bot/);
    await expect(sender().postTo('-100504', { text: 'hi' }, { executionId: EXECUTION })).resolves.toBeUndefined();
    expect(fake.sent(-100504)).toEqual(['hi']);
  });
});
