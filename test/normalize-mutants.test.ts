/**
 * Each chat platform's request → envelope step, field by field and refusal by refusal: the cases a one-character slip
 * in a channels/<name>/normalize.ts (a dropped fallback, a `&&` for `||`, a message no one reads) would get past the
 * channel tests. Real-shaped payloads (Slack's, Telegram's and Twilio's as the fakes build them, GitHub's published
 * examples) go straight into the normalize functions. Fast on purpose: `npm run mutate` runs these once per mutant.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { executionMarker, markedExecution, normalizeGithub, type NormalizeOptions as GithubOptions } from '../channels/github/index.ts';
import { normalizeSlack, urlVerificationChallenge, type NormalizeOptions as SlackOptions } from '../channels/slack/index.ts';
import { stripMention } from '../channels/slack/normalize.ts';
import {
  conversationKey,
  GROUP_COMMANDS,
  normalizeTelegram,
  parseVoteData,
  voteData,
  type NormalizeOptions as TelegramOptions,
} from '../channels/telegram/index.ts';
import { bareNumber, conversationKey as whatsappKey, normalizeWhatsApp } from '../channels/whatsapp/normalize.ts';
import { NormalizeError, type RawRequest } from '../src/ports.ts';
import type { Envelope } from '../src/types.ts';
import { issueCommentEvent, pullRequestEvent, reviewCommentEvent } from './fixtures/github/events.ts';
import { BOT_USER, clickPayload, clickRequest, commandRequest, eventBody, eventRequest, slackRequest, TEAM } from './fakes/slack-api.ts';
import { ALICE, BOB, BOT_ID as TELEGRAM_BOT_ID, BOT_USERNAME, callbackUpdate, messageUpdate, telegramRequest } from './fakes/telegram-api.ts';
import { CUSTOMER, inboundFields, WHATSAPP_FROM, whatsappRequest } from './fakes/twilio-api.ts';

const NOW = new Date('2026-02-01T08:00:00Z');

function raw(init: RequestInit): RawRequest {
  return { body: new TextEncoder().encode(init.body as string), headers: new Headers(init.headers), url: 'http://localhost/hook', params: {} };
}

/** The NormalizeError `run` throws or rejects with (anything else fails the test). */
async function refusal(run: () => unknown): Promise<NormalizeError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(NormalizeError);
    return err as NormalizeError;
  }
  throw new Error('expected a NormalizeError');
}

function one(result: Envelope[] | { ignore: string }): Envelope {
  expect(Array.isArray(result), JSON.stringify(result)).toBe(true);
  expect(result).toHaveLength(1);
  return (result as Envelope[])[0]!;
}

describe('Slack normalize, field by field', () => {
  let identityCalls = 0;
  const options = (identity: { userId?: string } = {}): SlackOptions => ({
    now: () => NOW,
    identity: async () => (identityCalls++, identity),
  });
  const normalize = (init: RequestInit, identity?: { userId?: string }) => normalizeSlack(raw(init), options(identity));
  const mention = { type: 'app_mention', user: 'U0ALICE01', text: `<@${BOT_USER}> hello`, ts: '1700000001.000100', channel: 'C0CHAN001' };
  const dm = { type: 'message', channel_type: 'im', user: 'U0ALICE01', text: 'status', ts: '1700000002.000200', channel: 'D0DM00001' };
  const json = (body: unknown, contentType = 'application/json') => slackRequest(JSON.stringify(body), contentType);

  it('reads the media type without its parameters and in any case; refuses any other with 415', async () => {
    expect(one(await normalize(json(eventBody(mention, 'Ev1'), 'Application/JSON; charset=utf-8'))).deliveryId).toBe('Ev1');
    const form = commandRequest({ text: 'status', response_url: 'https://x.test/r' });
    (form.headers as Record<string, string>)['content-type'] = ' application/x-www-form-urlencoded ; charset=utf-8';
    expect(one(await normalize(form)).text).toBe('status');
    const xml = await refusal(() => normalize(json(eventBody(mention, 'Ev1'), 'text/xml')));
    expect(xml).toMatchObject({ code: 'unsupported_media_type', status: 415 });
    expect(xml.message).toBe('Slack sends application/json or application/x-www-form-urlencoded');
    const none = raw(json(eventBody(mention, 'Ev1')));
    none.headers.delete('content-type');
    expect(await refusal(() => normalizeSlack(none, options()))).toMatchObject({ code: 'unsupported_media_type' });
  });

  it('answers the url_verification handshake with its challenge, and nothing else', () => {
    const challenge = (body: unknown, contentType?: string) => urlVerificationChallenge(raw(json(body, contentType)));
    expect(challenge({ type: 'url_verification', challenge: 'c-123' })).toBe('c-123');
    expect(challenge({ type: 'url_verification', challenge: 'c-123' }, 'application/json; charset=utf-8')).toBe('c-123');
    expect(challenge({ type: 'url_verification', challenge: 42 })).toBeUndefined();
    expect(challenge({ type: 'event_callback', challenge: 'c-123' })).toBeUndefined();
    expect(challenge(null)).toBeUndefined();
    expect(urlVerificationChallenge(raw(commandRequest({})))).toBeUndefined();
  });

  it('ignores Events API requests that carry no event, naming their type', async () => {
    expect(await normalize(json({ type: 'app_rate_limited' }))).toEqual({ ignore: 'Events API request of type app_rate_limited' });
    expect(await normalize(json({ ...eventBody(mention, 'Ev1'), event: undefined }))).toEqual({ ignore: 'Events API request of type event_callback' });
    expect(await normalize(json({ ...eventBody(mention, 'Ev1'), event: 'app_mention' }))).toEqual({ ignore: 'Events API request of type event_callback' });
    expect(await normalize(json(null))).toEqual({ ignore: 'Events API request of type undefined' });
  });

  it('refuses JSON nested too deep, in the body or inside the interactivity payload, and says so', async () => {
    const deep = `${'['.repeat(100)}${']'.repeat(100)}`;
    const body = await refusal(() => normalize(slackRequest(deep, 'application/json')));
    expect(body).toMatchObject({ code: 'too_deep' });
    expect(body.message).toMatch(/^the Events API body is nested more than \d+ levels deep$/);
    const payload = await refusal(() => normalize(slackRequest(new URLSearchParams({ payload: deep }).toString(), 'application/x-www-form-urlencoded')));
    expect(payload.message).toMatch(/^the interactivity payload is nested/);
    const broken = await refusal(() => normalize(slackRequest(new URLSearchParams({ payload: '{' }).toString(), 'application/x-www-form-urlencoded')));
    expect(broken).toMatchObject({ code: 'malformed_json', message: 'the interactivity payload is not valid JSON' });
  });

  it('refuses a form that is neither a command nor an interaction', async () => {
    const err = await refusal(() => normalize(slackRequest('text=hi', 'application/x-www-form-urlencoded')));
    expect(err).toMatchObject({ code: 'invalid_request', message: 'a form body must be a slash command (command=…) or an interaction (payload=…)' });
  });

  it('strips only the bot’s own mentions, in either form, and folds the spaces they leave', () => {
    const bots = new Set(['U0BOT0001']);
    expect(stripMention('<@U0BOT0001> hi  <@U0BOB0001|bob>  and <@U0BOT0001|sb>\tthere', bots)).toBe('hi <@U0BOB0001|bob> and there');
    expect(stripMention('first line\n\nsecond', bots)).toBe('first line\n\nsecond');
    // Without knowing the bot's id, only a leading mention is taken for it.
    expect(stripMention('  <@U0ANY0001|sb> ask  x <@U0BOB0001>', new Set())).toBe('ask x <@U0BOB0001>');
    expect(stripMention('ask <@U0ANY0001>', new Set())).toBe('ask <@U0ANY0001>');
    expect(stripMention('<@u0any0001> hi', new Set())).toBe('hi');
  });

  it('ignores events it does not answer, each for its own reason', async () => {
    const ignored = async (event: Record<string, unknown>) => ((await normalize(eventRequest(event, 'EvX'))) as { ignore: string }).ignore;
    expect(await ignored({ type: 'reaction_added', user: 'U1' })).toBe('event reaction_added is not handled');
    expect(await ignored({ ...dm, channel_type: 'channel' })).toBe('message in a channel (only DMs and mentions are answered)');
    expect(await ignored({ ...dm, subtype: 'message_changed' })).toBe('message subtype message_changed');
    expect(await ignored({ ...dm, bot_id: 'B0OTHER01' })).toBe('message from a bot');
    expect(await ignored({ ...dm, user: undefined })).toBe('message without a user');
    expect(await ignored({ ...mention, user: BOT_USER })).toBe('message from this app itself');
  });

  it('answers a file shared or a thread reply broadcast to the channel, which are people writing', async () => {
    expect(one(await normalize(eventRequest({ ...dm, subtype: 'file_share' }, 'Ev1'))).text).toBe('status');
    expect(one(await normalize(eventRequest({ ...mention, subtype: 'thread_broadcast' }, 'Ev2'))).text).toBe('hello');
  });

  it('knows its own user from the authorizations of bot installs, else asks auth.test once', async () => {
    const notBot = { authorizations: [{ team_id: TEAM, user_id: BOT_USER, is_bot: false }] };
    // The authorization of a user install is no bot: the bot's id comes from auth.test, and its mention is stripped.
    identityCalls = 0;
    const asked = one(await normalize(eventRequest({ ...mention, text: `<@${BOT_USER}> hi <@U0OTHER01>` }, 'Ev1', { extra: notBot }), { userId: 'U0OTHER01' }));
    expect(asked.text).toBe(`<@${BOT_USER}> hi`);
    expect(identityCalls).toBe(1);
    identityCalls = 0;
    one(await normalize(eventRequest(mention, 'Ev2')));
    expect(identityCalls).toBe(0);
    // auth.test without a user id: nothing is known to be ours, and only a leading mention is stripped.
    const unknown = one(await normalize(eventRequest({ ...mention, text: `<@${BOT_USER}> hi <@U0BOB0001>` }, 'Ev3', { extra: { authorizations: [] } })));
    expect(unknown.text).toBe('hi <@U0BOB0001>');
  });

  it('refuses an event callback without its ids, naming what is missing', async () => {
    const err = await refusal(() => normalize(eventRequest(mention, '', { extra: { team_id: '' } })));
    expect(err).toMatchObject({ code: 'invalid_request', message: 'the event callback is missing event_id, team_id' });
    const event = await refusal(() => normalize(eventRequest({ ...mention, channel: undefined, ts: 5 }, 'Ev1')));
    expect(event.message).toBe('the event is missing channel, ts');
  });

  it('builds the envelope of a mention: thread, names, facts, where to answer and the raw body', async () => {
    const init = eventRequest({ ...mention, user_profile: { display_name: 'Alice A.' } }, 'Ev1');
    const envelope = one(await normalize(init));
    expect(envelope).toEqual({
      channel: 'slack',
      deliveryId: 'Ev1',
      tenantId: TEAM,
      conversationKey: `${TEAM}:C0CHAN001:1700000001.000100`,
      address: 'C0CHAN001',
      userId: 'U0ALICE01',
      userName: 'Alice A.',
      text: 'hello',
      facts: { person: 'U0ALICE01', places: [TEAM, 'C0CHAN001'] },
      threadRef: { channel: 'C0CHAN001', threadTs: '1700000001.000100', messageTs: '1700000001.000100' },
      replyRef: { kind: 'thread', channel: 'C0CHAN001', threadTs: '1700000001.000100' },
      receivedAt: NOW.toISOString(),
      raw: JSON.parse(init.body as string),
    });
    // A direct message carries no display name to use.
    expect(one(await normalize(eventRequest({ ...dm, user_profile: { display_name: 'Alice A.' } }, 'Ev2')))).not.toHaveProperty('userName');
    expect(one(await normalize(eventRequest({ ...mention, user_profile: { display_name: '' } }, 'Ev3')))).not.toHaveProperty('userName');
  });

  it('marks a person of another organisation (Slack Connect) as external, by user_team or team', async () => {
    const facts = async (event: Record<string, unknown>, extra?: Record<string, unknown>) =>
      one(await normalize(eventRequest({ ...mention, ...event }, 'Ev1', extra ? { extra } : {}))).facts;
    expect(await facts({ user_team: 'T0OTHER01' })).toEqual({ person: 'U0ALICE01', places: [TEAM, 'C0CHAN001'], external: true });
    expect(await facts({ team: 'T0OTHER01' })).toMatchObject({ external: true });
    expect(await facts({ user_team: TEAM, team: 'T0OTHER01' })).not.toHaveProperty('external');
    // A team the installation is authorized in is home too.
    const twoTeams = {
      authorizations: [
        { team_id: TEAM, user_id: BOT_USER, is_bot: true },
        { team_id: 'T0SECOND1', user_id: 'U0X', is_bot: false },
      ],
    };
    expect(await facts({ user_team: 'T0SECOND1' }, twoTeams)).not.toHaveProperty('external');
    expect(await facts({ user_team: 'T0THIRD01' }, twoTeams)).toMatchObject({ external: true });
  });

  it('builds the envelope of a slash command, and refuses one without its fields', async () => {
    const init = commandRequest({ command: '/sb', text: '  ask  ', trigger_id: 'tr.1', response_url: 'https://x.test/r' });
    const envelope = one(await normalize(init));
    expect(envelope).toEqual({
      channel: 'slack',
      deliveryId: 'command:tr.1',
      tenantId: TEAM,
      conversationKey: `${TEAM}:C0CHAN001`,
      address: 'C0CHAN001',
      userId: 'U0ALICE01',
      userName: 'alice',
      text: 'ask',
      facts: { person: 'U0ALICE01', places: [TEAM, 'C0CHAN001'] },
      threadRef: { channel: 'C0CHAN001', command: '/sb' },
      replyRef: { kind: 'command', channel: 'C0CHAN001', responseUrl: 'https://x.test/r' },
      receivedAt: NOW.toISOString(),
      raw: Object.fromEntries(new URLSearchParams(init.body as string)),
    });
    expect(one(await normalize(commandRequest({ user_name: '', response_url: 'https://x.test/r' })))).not.toHaveProperty('userName');
    const err = await refusal(() => normalize(commandRequest({ channel_id: '', response_url: '' })));
    expect(err).toMatchObject({ code: 'invalid_request', message: 'the slash command is missing channel_id, response_url' });
  });

  const click = (over: Record<string, unknown> = {}) => ({
    ...clickPayload({ executionId: 'exec-1', score: 1, ts: '1700000003.000300', triggerId: 'tr.9', responseUrl: 'https://x.test/r' }),
    ...over,
  });

  it('builds the envelope of a 👍 click on a bot message in a channel', async () => {
    const payload = click({ message: { type: 'message', bot_id: 'B1', text: 'the answer', ts: '1700000003.000300', blocks: [{ type: 'divider' }] } });
    const envelope = one(await normalize(clickRequest(payload)));
    expect(envelope).toEqual({
      channel: 'slack',
      deliveryId: 'action:tr.9',
      tenantId: TEAM,
      conversationKey: `${TEAM}:C0CHAN001`,
      address: 'C0CHAN001',
      userId: 'U0ALICE01',
      userName: 'alice',
      text: '+1',
      agent: 'feedback',
      args: { score: 1, executionId: 'exec-1' },
      facts: { person: 'U0ALICE01', places: [TEAM, 'C0CHAN001'] },
      threadRef: { channel: 'C0CHAN001', threadTs: '1700000003.000300' },
      replyRef: {
        kind: 'vote',
        channel: 'C0CHAN001',
        ts: '1700000003.000300',
        userId: 'U0ALICE01',
        score: 1,
        responseUrl: 'https://x.test/r',
        text: 'the answer',
        blocks: [{ type: 'divider' }],
      },
      receivedAt: NOW.toISOString(),
      raw: payload,
    });
  });

  it('reads a click’s channel, message and team from wherever Slack put them', async () => {
    const base = click();
    const fallback = one(
      await normalize(
        clickRequest({
          ...base,
          trigger_id: '',
          container: { type: 'message' },
          channel: { id: 'C0OTHER01' },
          message: { ...base.message, ts: '1700000004.000400', thread_ts: '1700000001.000100', text: undefined, blocks: 'x' },
          team: undefined,
          user: { id: 'U0ALICE01', team_id: TEAM },
        }),
      ),
    );
    expect(fallback).toMatchObject({
      deliveryId: 'action:1700000100.000100:U0ALICE01',
      tenantId: TEAM,
      conversationKey: `${TEAM}:C0OTHER01:1700000001.000100`,
      threadRef: { channel: 'C0OTHER01', threadTs: '1700000001.000100' },
      replyRef: { channel: 'C0OTHER01', ts: '1700000004.000400', text: '', blocks: [] },
    });
    expect(fallback).not.toHaveProperty('userName');
    // A clicker of another organisation is external.
    expect(one(await normalize(clickRequest(click({ user: { id: 'U0GUEST01', team_id: 'T0OTHER01' } })))).facts).toEqual({
      person: 'U0GUEST01',
      places: [TEAM, 'C0CHAN001'],
      external: true,
    });
    const without = async (over: Record<string, unknown>) => (await refusal(() => normalize(clickRequest(click(over))))).message;
    const lacks = 'the interaction lacks its channel, message, team, user or response_url';
    expect(await without({ container: {}, channel: undefined })).toBe(lacks);
    expect(await without({ container: {}, message: { ...base.message, ts: undefined } })).toBe(lacks);
    expect(await without({ team: undefined, user: { id: 'U1' } })).toBe(lacks);
    expect(await without({ user: { team_id: TEAM } })).toBe(lacks);
    expect(await without({ response_url: '' })).toBe(lacks);
  });

  it('reads the vote from the button: its execution, a score matching the button, and how to mark it', async () => {
    const withValue = (value: unknown, actionId = 'sb_feedback_up') =>
      click({ actions: [{ ...click().actions[0], action_id: actionId, value: JSON.stringify(value) }] });
    const down = one(await normalize(clickRequest(withValue({ executionId: 'e2', score: -1 }, 'sb_feedback_down'))));
    expect(down).toMatchObject({ text: '-1', args: { score: -1, executionId: 'e2' }, replyRef: { score: -1 } });
    expect(one(await normalize(clickRequest(withValue({ executionId: 'e2', score: 1, via: 'other' })))).replyRef).not.toHaveProperty('via');
    const message = 'the feedback button value must be {"executionId": "…", "score": 1 or -1} matching its action';
    for (const bad of [{ executionId: '', score: 1 }, { executionId: 5, score: 1 }, { executionId: 'e', score: -1 }, null]) {
      expect((await refusal(() => normalize(clickRequest(withValue(bad))))).message).toBe(message);
    }
    const unparsable = click({ actions: [{ ...click().actions[0], value: undefined }] });
    expect(await refusal(() => normalize(clickRequest(unparsable)))).toMatchObject({
      code: 'malformed_json',
      message: 'the feedback button value is not valid JSON',
    });
    // Another button first: the feedback one is still found.
    const mixed = click({ actions: [{ action_id: 'other', type: 'button', value: 'x' }, click().actions[0]] });
    expect(one(await normalize(clickRequest(mixed))).args).toEqual({ score: 1, executionId: 'exec-1' });
  });

  it('names what it ignores among interactions', async () => {
    expect(await normalize(clickRequest({ type: 'view_submission' }))).toEqual({ ignore: 'interaction view_submission is not handled' });
    expect(await normalize(clickRequest(null))).toEqual({ ignore: 'interaction undefined is not handled' });
    expect(await normalize(clickRequest(click({ actions: undefined })))).toEqual({ ignore: 'no feedback button in this interaction' });
  });
});

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
    const notTopic = callbackUpdate(`fb:${EXEC}:+1`, { message_id: 31, chat: group, message_thread_id: 4 } as never);
    expect(one(await normalize(notTopic)).conversationKey).toBe(String(group.id));
    expect(await ignored(callbackUpdate('other:data', { message_id: 31, chat: group }))).toBe('a button that is not a feedback vote');
    const inline = callbackUpdate(`fb:${EXEC}:+1`, { message_id: 31, chat: group });
    expect(await ignored({ ...inline, callback_query: { ...inline.callback_query, message: undefined } })).toBe('a vote on a message without a chat');
  });
});

describe('WhatsApp normalize, field by field', () => {
  const normalize = (fields: Record<string, string>) => normalizeWhatsApp(raw(whatsappRequest(fields)), { now: () => NOW });

  it('names a chat by both bare numbers', () => {
    expect(bareNumber('WhatsApp:+31612345678')).toBe('+31612345678');
    expect(bareNumber('+1 whatsapp:')).toBe('+1 whatsapp:');
    expect(whatsappKey('whatsapp:+1', 'whatsapp:+2')).toBe('+1:+2');
  });

  it('builds the envelope of a text message', () => {
    const fields = inboundFields('  hello there ', { MessageSid: 'SM1' });
    expect(one(normalize(fields))).toEqual({
      channel: 'whatsapp',
      deliveryId: 'SM1',
      tenantId: `${bareNumber(WHATSAPP_FROM)}:${bareNumber(CUSTOMER)}`,
      conversationKey: `${bareNumber(WHATSAPP_FROM)}:${bareNumber(CUSTOMER)}`,
      userId: CUSTOMER,
      userName: 'Alice',
      text: 'hello there',
      facts: { person: bareNumber(CUSTOMER), places: [] },
      threadRef: { from: bareNumber(CUSTOMER), to: bareNumber(WHATSAPP_FROM) },
      replyRef: { kind: 'message', to: CUSTOMER },
      receivedAt: NOW.toISOString(),
      raw: fields,
    });
    expect(one(normalize(inboundFields('hi', { ProfileName: '' })))).not.toHaveProperty('userName');
  });

  it('marks a message without text (media) so the answer says it reads text only, with how many media it had', () => {
    const media = one(normalize(inboundFields('', { NumMedia: '2' })));
    expect(media).toMatchObject({ text: '', args: { media: 2 }, replyRef: { kind: 'message', to: CUSTOMER, mediaOnly: true } });
    expect(one(normalize(inboundFields(' ', { NumMedia: 'x' }))).args).toEqual({ media: 0 });
    const { Body: _, NumMedia: __, ...noBody } = inboundFields('');
    expect(one(normalize(noBody)).args).toEqual({ media: 0 });
    expect(one(normalize(inboundFields('hi', { NumMedia: '1' })))).not.toHaveProperty('args');
  });

  it('ignores status callbacks and other Twilio channels, and refuses a webhook without its fields', async () => {
    expect(normalize(inboundFields('hi', { MessageStatus: 'delivered' }))).toEqual({ ignore: 'a delivery status callback (delivered)' });
    expect(normalize(inboundFields('hi', { From: '+31612345678' }))).toEqual({ ignore: 'a message that did not come through WhatsApp' });
    expect(one(normalize(inboundFields('hi', { From: 'WHATSAPP:+31612345678' }))).userId).toBe('WHATSAPP:+31612345678');
    for (const missing of ['MessageSid', 'From', 'To']) {
      const { [missing]: _, ...fields } = inboundFields('hi');
      const err = await refusal(() => normalize(fields));
      expect(err).toMatchObject({ code: 'invalid_request', message: 'a Twilio message webhook carries MessageSid, From and To' });
    }
  });
});

describe('GitHub normalize, field by field', () => {
  const options: GithubOptions = { reviewDrafts: false, now: () => NOW };
  const request = (e: { event: string; payload: unknown }, id = 'delivery-7'): RawRequest => {
    const body = JSON.stringify(e.payload);
    return raw({ body, headers: { 'content-type': 'application/json', 'x-github-event': e.event, 'x-github-delivery': id } });
  };
  const normalize = (e: { event: string; payload: unknown }, opts = options) => normalizeGithub(request(e), opts);
  const ignored = (e: { event: string; payload: unknown }) => (normalize(e) as { ignore: string }).ignore;
  const pr = (action: Parameters<typeof pullRequestEvent>[0] = 'opened', o: Partial<Parameters<typeof pullRequestEvent>[1]> = {}) =>
    pullRequestEvent(action, { number: 42, base: 'b', head: 'h', ...o });
  const sha = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const EXEC = '0f8fad5b-d9cb-469f-a165-70867728950e';

  it('marks its own comments with the execution that wrote them, and reads the mark back', () => {
    expect(executionMarker(EXEC)).toBe(`<!-- switchboard:execution=${EXEC} -->`);
    expect(markedExecution(`text\n${executionMarker(EXEC)}`)).toBe(EXEC);
    expect(markedExecution(null)).toBeUndefined();
    expect(markedExecution(undefined)).toBeUndefined();
    expect(markedExecution('<!-- switchboard:execution=short -->')).toBeUndefined();
  });

  it('builds the review envelope of a pull request: ids, dedup keys, names, facts and where to answer', () => {
    const e = pr('opened', { installationId: 9, title: 'Fix totals', sender: 'ann' });
    const req = request(e);
    expect(one(normalizeGithub(req, options))).toEqual({
      channel: 'github',
      deliveryId: 'delivery-7',
      contentKey: sha(new TextDecoder().decode(req.body)),
      tenantId: 'acme/shop',
      conversationKey: 'acme/shop#42',
      address: 'acme/shop#42',
      userId: 'ann',
      userName: 'ann',
      threadRef: { owner: 'acme', repo: 'shop', number: 42 },
      receivedAt: NOW.toISOString(),
      raw: e.payload,
      text: 'Review pull request acme/shop#42: Fix totals',
      agent: 'review',
      facts: {
        person: 'ann',
        places: ['acme/shop', 'acme/*'],
        automatic: true,
        ...(e.payload.pull_request.author_association === 'OWNER' ? { member: true } : {}),
      },
      replyRef: { kind: 'pull_request', owner: 'acme', repo: 'shop', number: 42, installationId: 9, action: 'opened' },
    });
    expect(one(normalize(pr('opened'))).replyRef).not.toHaveProperty('installationId');
  });

  it('reviews on every action that asks for one, an open pull request only, drafts when asked', () => {
    for (const action of ['opened', 'reopened', 'ready_for_review', 'synchronize'] as const) expect(one(normalize(pr(action))).agent).toBe('review');
    const closedButOpened = pr('opened');
    closedButOpened.payload.pull_request.state = 'closed';
    expect(ignored(closedButOpened)).toBe('the pull request is closed');
    expect(ignored(pr('opened', { draft: true }))).toBe('draft pull request (set GITHUB_REVIEW_DRAFTS=true to review drafts)');
    expect(one(normalize(pr('opened', { draft: true }), { ...options, reviewDrafts: true })).agent).toBe('review');
  });

  it('counts owners, members and collaborators as the repository’s people, and nobody else', () => {
    const facts = (association: string) => one(normalize(issueCommentEvent({ number: 3, body: '/ask x', association }))).facts;
    for (const association of ['OWNER', 'MEMBER', 'COLLABORATOR'])
      expect(facts(association)).toEqual({ person: 'octocat', places: ['acme/shop', 'acme/*'], member: true });
    for (const association of ['CONTRIBUTOR', 'NONE']) expect(facts(association)).toEqual({ person: 'octocat', places: ['acme/shop', 'acme/*'] });
  });

  it('builds the envelope of a command in a PR comment, trimmed, with the comment to react to', () => {
    const e = issueCommentEvent({ number: 3, id: 77, body: '  /Summarize please \n', installationId: 5 });
    expect(one(normalize(e))).toMatchObject({
      text: '/Summarize please',
      conversationKey: 'acme/shop#3',
      replyRef: { kind: 'issue_comment', owner: 'acme', repo: 'shop', number: 3, commentId: 77, installationId: 5 },
    });
    expect(one(normalize(e))).not.toHaveProperty('agent');
  });

  it('reads only the commands it knows, at the start of a comment, as whole words', () => {
    for (const body of ['/review', '/summarize', '/ask why', '/feedback +1', '/help', '/status', '/STATUS'])
      expect(one(normalize(issueCommentEvent({ number: 3, body }))).text).toBe(body);
    for (const body of ['/reviewer', 'please /review', '/deploy', '+1']) expect(ignored(issueCommentEvent({ number: 3, body })), body).toBe('not a command');
  });

  it('ignores comments that are edits, on issues, by bots or carrying its own mark', () => {
    const edited = issueCommentEvent({ number: 3, body: '/review' });
    edited.payload.action = 'edited';
    expect(ignored(edited)).toBe('issue_comment.edited');
    expect(ignored(issueCommentEvent({ number: 3, body: `/review\n${executionMarker(EXEC)}` }))).toBe('a comment by a bot');
    const review = reviewCommentEvent({ number: 3, body: '/review' });
    review.payload.action = 'deleted';
    expect(ignored(review)).toBe('pull_request_review_comment.deleted');
    expect(ignored(reviewCommentEvent({ number: 3, inReplyTo: 70, body: `+1 ${executionMarker(EXEC)}` }))).toBe('a comment by a bot');
    expect(ignored(reviewCommentEvent({ number: 3, inReplyTo: 70, body: '+1', sender: 'ci[bot]' }))).toBe('a comment by a bot');
  });

  it('reads a bare vote only in a review thread, in each of its spellings', () => {
    for (const body of ['+1', '-1', '👍', '👎', ':+1:', ':-1:', '+1!', ' -1. ', '👍 !']) {
      const envelope = one(normalize(reviewCommentEvent({ number: 3, id: 80, inReplyTo: 70, body })));
      expect(envelope.text, body).toBe(body.trim());
      expect(envelope.replyRef).toMatchObject({ kind: 'review_comment', commentId: 80, threadId: 70, bareVote: true });
    }
    for (const body of ['+1 agreed', 'x+1', '+10']) expect(ignored(reviewCommentEvent({ number: 3, inReplyTo: 70, body })), body).toBe('not a command');
    // A comment that starts a thread answers nobody: its vote is chatter, its command is read, in its own thread.
    const top = reviewCommentEvent({ number: 3, id: 81, body: '/ask why?' });
    expect(one(normalize(top)).replyRef).toEqual({ kind: 'review_comment', owner: 'acme', repo: 'shop', number: 3, commentId: 81, threadId: 81 });
    const nullReply = reviewCommentEvent({ number: 3, id: 82, body: '+1' });
    nullReply.payload.comment.in_reply_to_id = null;
    expect(ignored(nullReply)).toBe('not a command');
  });

  it('refuses a delivery without its headers, or whose body is no JSON object', () => {
    const e = pr();
    const without = (name: string) => {
      const req = request(e);
      req.headers.delete(name);
      return req;
    };
    expect(() => normalizeGithub(without('x-github-event'), options)).toThrow(
      expect.objectContaining({ code: 'missing_event', message: 'X-GitHub-Event header is required' }),
    );
    expect(() => normalizeGithub(without('x-github-delivery'), options)).toThrow(
      expect.objectContaining({ code: 'missing_delivery_id', message: 'X-GitHub-Delivery header is required: it is the deduplication key' }),
    );
    for (const payload of [null, [1], 5, '"x"']) {
      const req = request({ event: 'pull_request', payload });
      if (payload === '"x"') req.body = new TextEncoder().encode('{not json');
      expect(() => normalizeGithub(req, options)).toThrow(
        expect.objectContaining({
          code: 'malformed_json',
          message: 'GitHub webhook body must be a JSON object; set the webhook content type to application/json',
        }),
      );
    }
  });

  it('ignores pings, events without a repository or sender, and events it does not handle', () => {
    expect(ignored({ event: 'ping', payload: { zen: 'hi' } })).toBe('ping: the webhook is set up');
    const e = pr();
    expect(ignored({ event: 'pull_request', payload: { ...e.payload, repository: undefined } })).toBe('pull_request without a repository');
    expect(ignored({ event: 'pull_request', payload: { ...e.payload, sender: undefined } })).toBe('pull_request without a repository');
    expect(ignored({ event: 'push', payload: e.payload })).toBe('push events are not handled');
  });

  it('refuses a body that is not the event its header names, naming the first field that does not fit', () => {
    const mismatch = (event: string, payload: unknown) => {
      try {
        normalizeGithub(request({ event, payload }), options);
      } catch (err) {
        expect(err).toMatchObject({ code: 'event_mismatch' });
        return (err as Error).message;
      }
      return 'accepted';
    };
    const comment = issueCommentEvent({ number: 3, body: '/review' }).payload;
    expect(mismatch('pull_request', comment)).toBe('the body is not a pull_request event (X-GitHub-Event): expected pull_request (object)');
    const review = reviewCommentEvent({ number: 3, body: '/review' }).payload;
    expect(mismatch('pull_request', review)).toBe('the body is not a pull_request event (X-GitHub-Event): expected no comment field');
    const p = pr().payload;
    expect(mismatch('issue_comment', p)).toBe('the body is not a issue_comment event (X-GitHub-Event): expected issue (object)');
    expect(mismatch('pull_request_review_comment', p)).toBe('the body is not a pull_request_review_comment event (X-GitHub-Event): expected comment (object)');
    const field = (path: string, value: unknown, base: Record<string, any> = pr().payload, event = 'pull_request') => {
      const copy = structuredClone(base);
      const keys = path.split('.');
      keys.slice(0, -1).reduce((o, k) => o[k], copy)[keys.at(-1)!] = value;
      return mismatch(event, copy);
    };
    expect(field('pull_request.number', '42')).toMatch(/expected pull_request\.number \(number\)$/);
    expect(field('pull_request.state', null)).toMatch(/expected pull_request\.state \(string\)$/);
    expect(field('pull_request.title', 5)).toMatch(/expected pull_request\.title \(string\)$/);
    expect(field('action', 1)).toMatch(/expected action \(string\)$/);
    expect(field('pull_request', null)).toMatch(/expected pull_request \(object\)$/);
    expect(field('repository.full_name', 1)).toMatch(/expected repository\.full_name \(string\)$/);
    expect(field('repository.name', null)).toMatch(/expected repository\.name \(string\)$/);
    expect(field('repository.owner', 'acme')).toMatch(/expected repository\.owner\.login \(string\)$/);
    expect(field('repository.owner.login', 1)).toMatch(/expected repository\.owner\.login \(string\)$/);
    expect(field('sender.login', 1)).toMatch(/expected sender\.login \(string\)$/);
    expect(field('sender.type', undefined)).toMatch(/expected sender\.type \(string\)$/);
    const ic = issueCommentEvent({ number: 3, body: '/review' }).payload;
    expect(field('issue.number', '3', ic, 'issue_comment')).toMatch(/expected issue\.number \(number\)$/);
    expect(field('comment.id', '1', ic, 'issue_comment')).toMatch(/expected comment\.id \(number\)$/);
    expect(field('comment.body', null, ic, 'issue_comment')).toMatch(/expected comment\.body \(string\)$/);
    expect(field('comment', null, ic, 'issue_comment')).toMatch(/expected comment \(object\)$/);
    const rc = reviewCommentEvent({ number: 3, body: '/review' }).payload;
    expect(field('pull_request.number', null, rc, 'pull_request_review_comment')).toMatch(/expected pull_request\.number \(number\)$/);
    expect(field('pull_request', 'x', rc, 'pull_request_review_comment')).toMatch(/expected pull_request \(object\)$/);
    expect(field('comment.id', null, rc, 'pull_request_review_comment')).toMatch(/expected comment\.id \(number\)$/);
    expect(field('comment.body', 1, rc, 'pull_request_review_comment')).toMatch(/expected comment\.body \(string\)$/);
    expect(field('action', null, rc, 'pull_request_review_comment')).toMatch(/expected action \(string\)$/);
    expect(field('action', null, ic, 'issue_comment')).toMatch(/expected action \(string\)$/);
  });
});
