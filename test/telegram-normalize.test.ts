/**
 * Telegram's request → envelope step (channels/telegram/normalize.ts), field by field and refusal by refusal: the cases a one-character slip
 * (a dropped fallback, a `&&` for `||`, a message no one reads) would get past the channel tests. Real-shaped payloads go
 * straight into the normalize function. Fast on purpose: `npm run mutate` runs these once per mutant.
 */
import { describe, expect, it } from 'vitest';
import {
  conversationKey,
  GROUP_COMMANDS,
  normalizeTelegram,
  parseVoteData,
  voteData,
  type NormalizeOptions as TelegramOptions,
} from '../channels/telegram/normalize.ts';
import { ALICE, BOB, BOT_ID as TELEGRAM_BOT_ID, BOT_USERNAME, callbackUpdate, messageUpdate, telegramRequest } from './fakes/telegram-api.ts';
import { NOW, one, raw, refusal } from './support/normalize.ts';

describe('Telegram normalize, field by field', () => {
  let lookups = 0;
  const options: TelegramOptions = { now: () => NOW, botId: TELEGRAM_BOT_ID, username: async () => (lookups++, BOT_USERNAME) };
  const normalize = (update: unknown) => normalizeTelegram(raw(telegramRequest(update)), options);
  const group = { id: -1001234567890, type: 'supergroup' as const, title: 'Ops' };
  const text = async (update: unknown) => one(await normalize(update)).text;
  const ignored = async (update: unknown) => ((await normalize(update)) as { ignore: string }).ignore;
  const EXEC = '0f8fad5b-d9cb-469f-a165-70867728950e';

  it('writes and reads the data of a feedback button, and nothing longer or stranger', () => {
    expect(voteData(EXEC, 1)).toBe(`fb:${EXEC}:+1`);
    expect(voteData(EXEC, -1)).toBe(`fb:${EXEC}:-1`);
    expect(voteData('not-a-uuid', 1)).toBeUndefined();
    expect(parseVoteData(`fb:${EXEC.toUpperCase()}:+1`)).toEqual({ executionId: EXEC, score: 1 });
    expect(parseVoteData(`fb:${EXEC}:-1`)).toEqual({ executionId: EXEC, score: -1 });
    for (const bad of [undefined, '', `fb:${EXEC}:+2`, `xfb:${EXEC}:+1`, `fb:${EXEC}:+1 `]) expect(parseVoteData(bad), String(bad)).toBeUndefined();
  });

  it('names a chat, or a forum topic in it, as one conversation', () => {
    expect(conversationKey(-100, undefined)).toBe('-100');
    expect(conversationKey(-100, 0)).toBe('-100:0');
    expect(conversationKey(-100, 7)).toBe('-100:7');
  });

  it('refuses what is no update: not JSON, not an object, no integer update_id', async () => {
    const broken = await refusal(() => normalizeTelegram(raw(telegramRequest(undefined, { body: '{' })), options));
    expect(broken).toMatchObject({ code: 'malformed_json', message: 'the Telegram update is not valid JSON' });
    for (const update of [null, 5, { update_id: '5' }, { update_id: 1.5 }, { update_id: 2 ** 60 }]) {
      const err = await refusal(() => normalize(update));
      expect(err).toMatchObject({ code: 'invalid_request', message: 'a Telegram update must be a JSON object with a numeric update_id' });
    }
  });

  it('ignores updates it does not handle, naming their kind', async () => {
    expect(await ignored({ update_id: 1, edited_message: {} })).toBe('update of type edited_message is not handled');
    expect(await ignored({ update_id: 1 })).toBe('update of type empty is not handled');
  });

  it('ignores messages that are not a person writing text', async () => {
    const m = messageUpdate('hello');
    expect(await ignored({ ...m, message: { ...m.message, from: undefined } })).toBe('a message without a sender (channel post)');
    expect(await ignored({ ...m, message: { ...m.message, from: { ...m.message.from, is_bot: true } } })).toBe('a message from a bot');
    expect(await ignored({ ...m, message: { ...m.message, chat: { id: -5, type: 'channel' } } })).toBe('a channel post');
    expect(await ignored({ ...m, message: { ...m.message, text: undefined } })).toBe('a message without text');
    expect(await ignored({ ...m, message: { ...m.message, text: ' \n ' } })).toBe('a message without text');
  });

  it('builds the envelope of a private message: ids, names, facts, where to answer and the raw update', async () => {
    const update = messageUpdate('  how do we deploy?  ', { updateId: 501, messageId: 77, from: { id: 42, first_name: 'Ann', last_name: 'Lee' } as never });
    expect(one(await normalize(update))).toEqual({
      channel: 'telegram',
      deliveryId: '501',
      tenantId: '42',
      conversationKey: '42',
      address: '42',
      userId: '42',
      userName: 'Ann Lee',
      text: 'how do we deploy?',
      facts: { person: '42', places: ['42'] },
      threadRef: { chatId: 42, chatType: 'private' },
      replyRef: { kind: 'message', chatId: 42, messageId: 77 },
      receivedAt: NOW.toISOString(),
      raw: update,
    });
    expect(one(await normalize(messageUpdate('hi', { from: BOB }))).userName).toBe('Bob');
    expect(one(await normalize(update)).threadRef).not.toHaveProperty('threadId');
    expect(one(await normalize(messageUpdate('hi', { from: ALICE }))).userName).toBe('alice');
  });

  it('builds the envelope of a message in a forum topic, a separate conversation of the group', async () => {
    const update = messageUpdate(`@${BOT_USERNAME} status`, { chat: group, threadId: 9, messageId: 5 });
    expect(one(await normalize(update))).toMatchObject({
      tenantId: String(group.id),
      conversationKey: `${group.id}:9`,
      address: `${group.id}:9`,
      facts: { person: String(ALICE.id), places: [String(group.id)], groupChat: String(group.id) },
      threadRef: { chatId: group.id, chatType: 'supergroup', threadId: 9 },
      replyRef: { kind: 'message', chatId: group.id, messageId: 5, threadId: 9 },
    });
    // A reply thread in an ordinary group is no topic.
    const reply = messageUpdate(`@${BOT_USERNAME} status`, { chat: group, extra: { message_thread_id: 9 } });
    expect(one(await normalize(reply))).toMatchObject({ conversationKey: String(group.id), threadRef: { chatId: group.id, chatType: 'supergroup' } });
    expect(one(await normalize(reply)).replyRef).not.toHaveProperty('threadId');
  });

  it('reads the caption of a photo, with its own entities', async () => {
    const m = messageUpdate('x', { chat: group });
    const caption = `@${BOT_USERNAME} what is this?`;
    const photo = {
      ...m,
      message: {
        ...m.message,
        text: undefined,
        entities: undefined,
        caption,
        caption_entities: [{ type: 'mention', offset: 0, length: BOT_USERNAME.length + 1 }],
      },
    };
    expect(await text(photo)).toBe('what is this?');
    // The caption's entities, not the (absent) text's: without them the group message is not addressed to the bot.
    const noEntities = { ...photo, message: { ...photo.message, caption_entities: undefined, entities: photo.message.caption_entities } };
    expect(await ignored(noEntities)).toBe('a group message that neither commands, mentions nor replies to the bot');
  });

  it('takes any command in private, and in a group only ours or one named for this bot', async () => {
    expect(await text(messageUpdate('/anything  goes  here '))).toBe('/anything goes  here');
    expect(await text(messageUpdate('/ask'))).toBe('/ask');
    expect(await text(messageUpdate('/start'))).toBe('help');
    expect(await text(messageUpdate('/Start now'))).toBe('help');
    expect(await text(messageUpdate('/HELP', { chat: group }))).toBe('/HELP');
    expect(await text(messageUpdate(`/summarize@${BOT_USERNAME.toUpperCase()} today`, { chat: group }))).toBe('/summarize today');
    expect(await ignored(messageUpdate('/ask@OtherBot why', { chat: group }))).toBe('a command for @OtherBot');
    expect(await ignored(messageUpdate('/deploy now', { chat: group }))).toBe('/deploy is not one of our commands');
    // A command named for this bot needs not be one of the group commands.
    expect(await text(messageUpdate(`/deploy@${BOT_USERNAME}`, { chat: group }))).toBe('/deploy');
    for (const command of ['help', 'start', 'ask', 'summarize', 'status', 'review']) expect(GROUP_COMMANDS.has(command)).toBe(true);
    expect(GROUP_COMMANDS.size).toBe(6);
  });

  it('reads a command only at the start of the text', async () => {
    const m = messageUpdate('please /ask why', { chat: group });
    const later = { ...m, message: { ...m.message, entities: [{ type: 'bot_command', offset: 7, length: 4 }] } };
    expect(await ignored(later)).toBe('a group message that neither commands, mentions nor replies to the bot');
    const inPrivate = messageUpdate('please /ask why');
    expect(await text({ ...inPrivate, message: { ...inPrivate.message, entities: [{ type: 'bot_command', offset: 7, length: 4 }] } })).toBe('please /ask why');
  });

  it('in a group, answers a mention of the bot (by name in any case, or as a user) and strips it', async () => {
    lookups = 0;
    expect(await text(messageUpdate(`hey @${BOT_USERNAME.toLowerCase()}  what  now? @someone_else`, { chat: group }))).toBe('hey what now? @someone_else');
    expect(lookups).toBeGreaterThan(0);
    const m = messageUpdate('Switchboard, why?', { chat: group });
    const textMention = {
      ...m,
      message: { ...m.message, entities: [{ type: 'text_mention', offset: 0, length: 11, user: { id: TELEGRAM_BOT_ID, is_bot: true, first_name: 'S' } }] },
    };
    expect(await text(textMention)).toBe(', why?');
    const other = {
      ...m,
      message: { ...m.message, entities: [{ type: 'text_mention', offset: 0, length: 11, user: { id: 5, is_bot: false, first_name: 'S' } }] },
    };
    expect(await ignored(other)).toBe('a group message that neither commands, mentions nor replies to the bot');
    // Two mentions of the bot, each removed where it is.
    expect(await text(messageUpdate(`@${BOT_USERNAME} a @${BOT_USERNAME} b`, { chat: group }))).toBe('a b');
    expect(await text(messageUpdate(`@${BOT_USERNAME}`, { chat: group }))).toBe('help');
    // The bot's name written as code is no mention.
    const code = messageUpdate(`try @${BOT_USERNAME}`, { chat: group });
    const asCode = { ...code, message: { ...code.message, entities: [{ type: 'code', offset: 4, length: BOT_USERNAME.length + 1 }] } };
    expect(await ignored(asCode)).toBe('a group message that neither commands, mentions nor replies to the bot');
  });

  it('in a group, answers a reply to one of its messages, and no other reply', async () => {
    expect(await text(messageUpdate('  and then? ', { chat: group, replyTo: { message_id: 1, from: { id: TELEGRAM_BOT_ID, is_bot: true } } }))).toBe(
      'and then?',
    );
    expect(await ignored(messageUpdate('and then?', { chat: group, replyTo: { message_id: 1, from: { id: 5, is_bot: false } } }))).toBe(
      'a group message that neither commands, mentions nor replies to the bot',
    );
    expect(await ignored(messageUpdate('and then?', { chat: group, replyTo: { message_id: 1 } }))).toMatch(/^a group message/);
  });

  it('builds the envelope of a vote button press, in a chat or a forum topic', async () => {
    const update = callbackUpdate(`fb:${EXEC}:-1`, { message_id: 31, chat: { id: 42, type: 'private' } }, ALICE, 601);
    expect(one(await normalize(update))).toEqual({
      channel: 'telegram',
      deliveryId: '601',
      tenantId: '42',
      conversationKey: '42',
      address: '42',
      userId: String(ALICE.id),
      userName: 'alice',
      text: '-1',
      agent: 'feedback',
      args: { score: -1, executionId: EXEC },
      facts: { person: String(ALICE.id), places: ['42'] },
      threadRef: { chatId: 42 },
      replyRef: { kind: 'vote', chatId: 42, messageId: 31, callbackQueryId: update.callback_query.id, score: -1 },
      receivedAt: NOW.toISOString(),
      raw: update,
    });
    const topic = callbackUpdate(`fb:${EXEC}:+1`, { message_id: 31, chat: group, is_topic_message: true, message_thread_id: 4 } as never);
    expect(one(await normalize(topic))).toMatchObject({
      text: '+1',
      conversationKey: `${group.id}:4`,
      address: `${group.id}:4`,
      facts: { groupChat: String(group.id) },
      threadRef: { chatId: group.id, threadId: 4 },
    });
    const notTopic = callbackUpdate(`fb:${EXEC}:+1`, { message_id: 31, chat: group, is_topic_message: false, message_thread_id: 4 } as never);
    expect(one(await normalize(notTopic)).conversationKey).toBe(String(group.id));
    expect(one(await normalize(notTopic)).threadRef).not.toHaveProperty('threadId');
    const noFlag = callbackUpdate(`fb:${EXEC}:+1`, { message_id: 31, chat: group, message_thread_id: 4 } as never);
    expect(one(await normalize(noFlag)).conversationKey).toBe(String(group.id));
    expect(await ignored(callbackUpdate('other:data', { message_id: 31, chat: group }))).toBe('a button that is not a feedback vote');
    const inline = callbackUpdate(`fb:${EXEC}:+1`, { message_id: 31, chat: group });
    expect(await ignored({ ...inline, callback_query: { ...inline.callback_query, message: undefined } })).toBe('a vote on a message without a chat');
  });
});
