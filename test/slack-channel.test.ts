/** The Slack adapter on its own: signatures, the request shapes it reads, and how it writes within Slack's limits. */
import { describe, expect, it } from 'vitest';
import { createSlackAdapter, normalizeSlack, renderPart, signSlack, SLACK_LIMITS, verifySlack, type NormalizeOptions } from '../channels/slack/index.ts';
import { loadConfig } from '../src/config.ts';
import { partsOf } from '../src/pipeline/outbound.ts';
import { splitMessage } from '../src/split.ts';
import { NormalizeError, VerificationError, type RawRequest } from '../src/ports.ts';
import type { Envelope, Reply } from '../src/types.ts';
import { timestampedSignatureContract } from './support/verify-contract.ts';
import { BOT_USER, clickPayload, clickRequest, commandRequest, eventRequest, SIGNING_SECRET, slackSignature, TEAM } from './fakes/slack-api.ts';

// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
const VECTOR = {
  secret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: '1531420618',
  body: 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};

const NOW = new Date('2025-06-01T12:00:00Z');
const clock = () => NOW;
const _at = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000);

/** The RawRequest the route hands the adapter for a RequestInit built like Slack's. */
function raw(init: RequestInit): RawRequest {
  return { body: new TextEncoder().encode(init.body as string), headers: new Headers(init.headers), url: 'http://localhost/slack/events', params: {} };
}

function _verifyCode(req: RawRequest): string | undefined {
  try {
    verifySlack(req, SIGNING_SECRET, clock);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    return (err as VerificationError).code;
  }
}

const options = (identity: { userId?: string } = {}): NormalizeOptions => ({ now: clock, identity: async () => identity });
const normalize = (init: RequestInit, identity?: { userId?: string }) => normalizeSlack(raw(init), options(identity));

async function only(init: RequestInit): Promise<Envelope> {
  const result = await normalize(init);
  expect(Array.isArray(result)).toBe(true);
  expect(result).toHaveLength(1);
  return (result as Envelope[])[0]!;
}

timestampedSignatureContract({
  name: 'Slack',
  request(when, how) {
    const init = commandRequest({ text: 'help' }, { at: when, ...(how === 'other-secret' ? { secret: 'not-the-secret' } : {}) });
    return raw(how === 'tampered' ? { ...init, body: (init.body as string).replace('help', 'status') } : init);
  },
  verify: (req, now) => verifySlack(req, SIGNING_SECRET, () => now),
  timestampHeader: 'x-slack-request-timestamp',
  headers: ['x-slack-request-timestamp', 'x-slack-signature'],
});

describe('Slack signatures', () => {
  it("match Slack's documented example vector, with both the adapter's signer and the tests' own", () => {
    expect(signSlack(VECTOR.secret, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    expect(slackSignature(VECTOR.secret, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    const req = raw({ body: VECTOR.body, headers: { 'x-slack-request-timestamp': VECTOR.timestamp, 'x-slack-signature': VECTOR.signature } });
    expect(() => verifySlack(req, VECTOR.secret, () => new Date(Number(VECTOR.timestamp) * 1000 + 5_000))).not.toThrow();
  });

  it('refuses every request while no signing secret is configured, naming SLACK_SIGNING_SECRET', () => {
    expect(() => verifySlack(raw(commandRequest({}, { at: NOW })), undefined, clock)).toThrow(/SLACK_SIGNING_SECRET/);
  });
});

describe('Slack requests → envelopes', () => {
  const mention = { type: 'app_mention', user: 'U0ALICE01', text: `<@${BOT_USER}> ask how do we deploy?`, ts: '1700000001.000100', channel: 'C0CHAN001' };

  it('a mention becomes a message in the thread of the mention, without the mention itself', async () => {
    const envelope = await only(eventRequest(mention, 'Ev001', { at: NOW }));
    expect(envelope).toMatchObject({
      channel: 'slack',
      deliveryId: 'Ev001',
      tenantId: TEAM,
      conversationKey: `${TEAM}:C0CHAN001:1700000001.000100`,
      userId: 'U0ALICE01',
      text: 'ask how do we deploy?',
      replyRef: { kind: 'thread', channel: 'C0CHAN001', threadTs: '1700000001.000100' },
      receivedAt: NOW.toISOString(),
    });
  });

  it('a mention inside a thread joins that thread, and other people mentioned stay in the text', async () => {
    const envelope = await only(
      eventRequest({ ...mention, text: `<@${BOT_USER}> what did <@U0BOB0001> say?`, ts: '1700000009.000100', thread_ts: '1700000001.000100' }, 'Ev002'),
    );
    expect(envelope.conversationKey).toBe(`${TEAM}:C0CHAN001:1700000001.000100`);
    expect(envelope.replyRef).toMatchObject({ threadTs: '1700000001.000100' });
    expect(envelope.text).toBe('what did <@U0BOB0001> say?');
  });

  it('a bare mention asks for help', async () => {
    expect((await only(eventRequest({ ...mention, text: `<@${BOT_USER}>` }, 'Ev003'))).text).toBe('help');
  });

  it('a direct message is answered in its thread', async () => {
    const dm = { type: 'message', channel_type: 'im', user: 'U0ALICE01', text: 'status', ts: '1700000002.000200', channel: 'D0DM00001' };
    const envelope = await only(eventRequest(dm, 'Ev004'));
    expect(envelope).toMatchObject({
      text: 'status',
      conversationKey: `${TEAM}:D0DM00001:1700000002.000200`,
      replyRef: { kind: 'thread', channel: 'D0DM00001' },
    });
  });

  it.each([
    ['a message from a bot', { type: 'message', channel_type: 'im', bot_id: 'B0OTHER01', user: 'U0OTHER01', text: 'hi', ts: '1.1', channel: 'D1' }],
    ['a bot_message', { type: 'message', channel_type: 'im', subtype: 'bot_message', bot_id: 'B0OTHER01', text: 'hi', ts: '1.1', channel: 'D1' }],
    ['an edit', { type: 'message', channel_type: 'im', subtype: 'message_changed', message: { text: 'x' }, ts: '1.1', channel: 'D1' }],
    ['our own message', { type: 'message', channel_type: 'im', user: BOT_USER, text: 'an answer', ts: '1.1', channel: 'D1' }],
    [
      'a channel message (mentions arrive as app_mention)',
      { type: 'message', channel_type: 'channel', user: 'U0ALICE01', text: 'hi', ts: '1.1', channel: 'C1' },
    ],
    ['app_home_opened', { type: 'app_home_opened', user: 'U0ALICE01', channel: 'D1', tab: 'home' }],
    ['reaction_added', { type: 'reaction_added', user: 'U0ALICE01', reaction: 'thumbsup', item: { type: 'message', channel: 'C1', ts: '1.1' } }],
  ])('ignores %s', async (_, event) => {
    const result = await normalize(eventRequest(event, 'EvIgnored'));
    expect(result).toEqual({ ignore: expect.any(String) });
  });

  it('recognizes its own messages through auth.test when the event carries no authorizations', async () => {
    const own = eventRequest({ type: 'message', channel_type: 'im', user: BOT_USER, text: 'x', ts: '1.1', channel: 'D1' }, 'Ev005', {
      extra: { authorizations: undefined },
    });
    expect(await normalize(own, { userId: BOT_USER })).toEqual({ ignore: 'message from this app itself' });
  });

  it('a slash command is routed by the text after the command, whatever the command is called', async () => {
    const envelope = await only(
      commandRequest({ command: '/switchboard', text: ' ask why is CI red? ', trigger_id: 'tr.1', response_url: 'https://hooks.slack.com/commands/T/1/x' }),
    );
    expect(envelope).toMatchObject({
      deliveryId: 'command:tr.1',
      text: 'ask why is CI red?',
      userName: 'alice',
      conversationKey: `${TEAM}:C0CHAN001`,
      replyRef: { kind: 'command', channel: 'C0CHAN001', responseUrl: 'https://hooks.slack.com/commands/T/1/x' },
    });
    expect((await only(commandRequest({ text: '', response_url: 'https://x.test/r' }))).text).toBe('help');
  });

  it('a 👎 click becomes a feedback envelope naming the rated execution', async () => {
    const payload = clickPayload({
      executionId: 'exec-1',
      score: -1,
      ts: '1700000003.000300',
      threadTs: '1700000001.000100',
      triggerId: 'tr.2',
      responseUrl: 'https://x.test/r',
    });
    const envelope = await only(clickRequest(payload));
    expect(envelope).toMatchObject({
      deliveryId: 'action:tr.2',
      agent: 'feedback',
      text: '-1',
      args: { score: -1, executionId: 'exec-1' },
      conversationKey: `${TEAM}:C0CHAN001:1700000001.000100`,
      replyRef: { kind: 'vote', channel: 'C0CHAN001', ts: '1700000003.000300', userId: 'U0ALICE01', score: -1 },
    });
  });

  it('a click on an ephemeral, non-bot or slash-command answer is marked through response_url; one on a bot message with chat.update', async () => {
    const base = clickPayload({ executionId: 'exec-1', score: 1, ts: '1700000003.000300', responseUrl: 'https://x.test/r' });
    const viaOf = async (payload: unknown) => ((await only(clickRequest(payload))).replyRef as { via?: string }).via;
    expect(await viaOf(base)).toBeUndefined();
    expect(await viaOf({ ...base, container: { ...base.container, is_ephemeral: true } })).toBe('response_url');
    expect(await viaOf({ ...base, message: { ...base.message, bot_id: undefined } })).toBe('response_url');
    const fromCommand = { ...base, actions: [{ ...base.actions[0], value: JSON.stringify({ executionId: 'exec-1', score: 1, via: 'response_url' }) }] };
    expect(await viaOf(fromCommand)).toBe('response_url');
  });

  it('a mention remembers its own ts, so the thread before it can be read', async () => {
    const envelope = await only(eventRequest({ ...mention, ts: '1700000009.000100', thread_ts: '1700000001.000100' }, 'Ev006'));
    expect(envelope.threadRef).toEqual({ channel: 'C0CHAN001', threadTs: '1700000001.000100', messageTs: '1700000009.000100' });
  });

  it('ignores other interactions and rejects a forged button value', async () => {
    const payload = clickPayload({ executionId: 'e', score: 1, ts: '1.1', responseUrl: 'https://x.test/r' });
    expect(await normalize(clickRequest({ ...payload, type: 'view_submission' }))).toEqual({ ignore: expect.any(String) });
    expect(await normalize(clickRequest({ ...payload, actions: [{ ...payload.actions[0], action_id: 'other' }] }))).toEqual({ ignore: expect.any(String) });
    const forged = { ...payload, actions: [{ ...payload.actions[0], value: JSON.stringify({ executionId: 'e', score: -1 }) }] };
    await expect(normalize(clickRequest(forged))).rejects.toBeInstanceOf(NormalizeError);
  });

  it('rejects bodies that are none of the three shapes', async () => {
    await expect(normalize({ ...commandRequest({}), body: 'a=b' })).rejects.toThrow(/slash command|interaction/);
    await expect(normalize({ ...eventRequest(mention, 'x'), body: '{"type":' })).rejects.toMatchObject({ code: 'malformed_json', status: 400 });
  });
});

describe('writing within Slack limits', () => {
  const splitText = (text: string) => splitMessage(text, { limit: SLACK_LIMITS.maxLength, fences: SLACK_LIMITS.fences, fitting: SLACK_LIMITS.fitting });
  const paragraphs = Array.from({ length: 40 }, (_, i) => `Paragraph ${i}: ${'word '.repeat(100).trim()} & <done>.`);
  const long = paragraphs.join('\n\n');

  it('keeps a short answer whole', () => {
    expect(splitText('just one line')).toEqual(['just one line']);
  });

  it('splits a long answer on paragraph boundaries, each piece within 3,000 characters once escaped, losing nothing', () => {
    const parts = splitText(long);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) {
      expect(part.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').length).toBeLessThanOrEqual(3000);
      expect(part).toMatch(/^Paragraph \d+:/); // every piece starts at a paragraph
    }
    expect(parts.join('\n\n')).toBe(long);
  });

  it('cuts a single overlong word without splitting an emoji, and keeps code fences balanced', () => {
    const word = '😀'.repeat(2000); // 4,000 UTF-16 units
    const parts = splitText(word);
    expect(parts.join('')).toBe(word);
    expect(parts.every((p) => !/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(p))).toBe(true);
    const code = `\`\`\`\n${Array.from({ length: 400 }, (_, i) => `line ${i} of code`).join('\n')}\n\`\`\``;
    for (const part of splitText(code)) expect((part.match(/```/g) ?? []).length % 2).toBe(0);
  });

  it('puts 👍/👎 buttons naming the execution on the last message only, and findings in the text', async () => {
    const slack = createSlackAdapter(loadConfig({}).slack);
    const rendered = (reply: Reply) => partsOf(slack, reply, { target: 'C1' }).map((part) => renderPart(part, { executionId: 'exec-9', reply }));
    const messages = rendered({ text: long, feedback: true, findings: [{ path: 'src/a.ts', line: 3, severity: 'medium', body: 'debug leftover' }] });
    expect(messages.length).toBeGreaterThan(1);
    const actions = messages.map((m) => m.blocks.filter((b) => b.type === 'actions'));
    expect(actions.slice(0, -1).flat()).toEqual([]);
    const buttons = (actions.at(-1)![0] as any).elements;
    expect(buttons.map((b: any) => JSON.parse(b.value))).toEqual([
      { executionId: 'exec-9', score: 1 },
      { executionId: 'exec-9', score: -1 },
    ]);
    expect(messages.at(-1)!.text).toContain('src/a.ts:3 — debug leftover');
    expect(rendered({ text: 'hi', feedback: false })[0]!.blocks.some((b) => b.type === 'actions')).toBe(false);
  });
});
