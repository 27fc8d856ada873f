/**
 * Slack's request → envelope step (channels/slack/normalize.ts), field by field and refusal by refusal: the cases a one-character slip
 * (a dropped fallback, a `&&` for `||`, a message no one reads) would get past the channel tests. Real-shaped payloads go
 * straight into the normalize function. Fast on purpose: `npm run mutate` runs these once per mutant.
 */
import { describe, expect, it } from 'vitest';
import { normalizeSlack, stripMention, urlVerificationChallenge, type NormalizeOptions as SlackOptions } from '../channels/slack/normalize.ts';
import { BOT_USER, clickPayload, clickRequest, commandRequest, eventBody, eventRequest, slackRequest, TEAM } from './fakes/slack-api.ts';
import { NOW, one, raw, refusal } from './support/normalize.ts';

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
    expect(() => urlVerificationChallenge(raw(slackRequest('{', 'application/json')))).toThrow('the Events API body is not valid JSON');
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
      expect(await refusal(() => normalize(clickRequest(withValue(bad))))).toMatchObject({ code: 'invalid_request', message });
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

  it('marks a vote through response_url when the button says so, the message is ephemeral or not the bot’s', async () => {
    const viaOf = async (payload: unknown) => (one(await normalize(clickRequest(payload))).replyRef as { via?: string }).via;
    const base = click();
    expect(await viaOf(base)).toBeUndefined();
    const fromCommand = click({ actions: [{ ...base.actions[0], value: JSON.stringify({ executionId: 'exec-1', score: 1, via: 'response_url' }) }] });
    expect(await viaOf(fromCommand)).toBe('response_url');
    expect(await viaOf(click({ container: { ...base.container, is_ephemeral: true } }))).toBe('response_url');
    expect(await viaOf(click({ message: { ...base.message, bot_id: undefined } }))).toBe('response_url');
    // An ephemeral message comes without `message`: everything is read from the container.
    const ephemeral = one(await normalize(clickRequest(click({ message: undefined, container: { ...base.container, is_ephemeral: true } }))));
    expect(ephemeral).toMatchObject({
      conversationKey: `${TEAM}:C0CHAN001`,
      threadRef: { channel: 'C0CHAN001', threadTs: '1700000003.000300' },
      replyRef: { ts: '1700000003.000300', text: '', blocks: [], via: 'response_url' },
    });
    // A payload without its message, not said to be ephemeral: not a bot message either, so through response_url.
    const bare = one(await normalize(clickRequest(click({ message: undefined, container: { message_ts: '1700000005.000500', channel_id: 'C0CHAN001' } }))));
    expect(bare.replyRef).toMatchObject({ ts: '1700000005.000500', via: 'response_url' });
    // Without a message or a container ts there is nothing to mark, and no user or team is none either.
    const lacks = { code: 'invalid_request', message: 'the interaction lacks its channel, message, team, user or response_url' };
    expect(await refusal(() => normalize(clickRequest(click({ message: undefined, container: { channel_id: 'C1' } }))))).toMatchObject(lacks);
    expect(await refusal(() => normalize(clickRequest(click({ team: undefined, user: undefined }))))).toMatchObject(lacks);
    expect(await refusal(() => normalize(clickRequest(click({ user: undefined }))))).toMatchObject(lacks);
  });

  it('asks for help when a mention or a command carries no text at all', async () => {
    expect(one(await normalize(eventRequest({ ...mention, text: undefined }, 'Ev1'))).text).toBe('help');
    expect(one(await normalize(eventRequest({ ...mention, text: `<@${BOT_USER}>  ` }, 'Ev2'))).text).toBe('help');
    const form = new URLSearchParams(commandRequest({ response_url: 'https://x.test/r' }).body as string);
    form.delete('text');
    expect(one(await normalize(slackRequest(form.toString(), 'application/x-www-form-urlencoded'))).text).toBe('help');
    expect(one(await normalize(commandRequest({ text: '   ', response_url: 'https://x.test/r' }))).text).toBe('help');
  });

  it('names what it ignores among interactions', async () => {
    expect(await normalize(clickRequest({ type: 'view_submission' }))).toEqual({ ignore: 'interaction view_submission is not handled' });
    expect(await normalize(clickRequest(null))).toEqual({ ignore: 'interaction undefined is not handled' });
    expect(await normalize(clickRequest(click({ actions: undefined })))).toEqual({ ignore: 'no feedback button in this interaction' });
  });
});
