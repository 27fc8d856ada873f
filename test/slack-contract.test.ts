/** Slack through the channel contract every platform adapter passes. */
import { expect } from 'vitest';
import { WORKING_ON_IT } from '../channels/slack/index.ts';
import { channelContract } from './support/channel-contract.ts';
import { BOT_TOKEN, BOT_USER, commandRequest, eventRequest, SIGNING_SECRET, slackRequest, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';

let fake: FakeSlack | undefined;
let seq = 0;
const mention = (text: string, user = 'U0ALICE01') => ({
  type: 'app_mention',
  user,
  text: `<@${BOT_USER}> ${text}`,
  ts: `1700002000.${String(++seq).padStart(6, '0')}`,
  channel: 'C0CONTRACT',
});
const REPLIES = new Set(['chat.postMessage', 'chat.update']);

channelContract({
  name: 'Slack',
  channel: 'slack',
  route: '/slack/events',
  env: (fakeUrl) => ({ SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: fakeUrl }),
  requiredEnv: ['SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN'],
  async startFake() {
    const started = await startFakeSlack();
    fake = started;
    return { url: started.apiUrl, close: () => started.close() };
  },
  // A mention with the contract's delivery id as event_id, the key Slack's retries repeat.
  message: (id, text, user) => eventRequest(mention(text, user), id),
  // Slack retries with the same event_id and says which retry it is.
  redeliver: (init, n) => ({
    ...init,
    headers: { ...(init.headers as Record<string, string>), 'x-slack-retry-num': String(n), 'x-slack-retry-reason': 'http_timeout' },
  }),
  async acked(res) {
    expect(res.status).toBe(200);
  },
  forgeries(id, text) {
    const event = mention(text);
    const signed = eventRequest(event, id);
    return [
      eventRequest(event, id, { secret: 'not-the-signing-secret' }),
      { ...signed, body: (signed.body as string).replace('C0CONTRACT', 'C0TAMPERED') },
      eventRequest(event, id, { at: new Date(Date.now() - 301_000) }),
      eventRequest(event, id, { at: new Date(Date.now() + 301_000) }),
      { ...signed, headers: { 'content-type': 'application/json' } },
      commandRequest({ text, response_url: 'https://hooks.slack.invalid/forged' }, { secret: 'nope' }),
    ].map((request) => ({ request }));
  },
  // What the channel shows: the bot's messages as last edited, once the answer replaced "Working on it…".
  sent: () => (fake?.messages('C0CONTRACT') ?? []).filter((m) => m.bot_id && m.text !== WORKING_ON_IT).map((m) => String(m.text)),
  calls: () => fake?.calls.length ?? 0,
  destination: { target: 'C0ROUTE01', sentTo: (target) => (fake?.messages(target) ?? []).filter((m) => m.bot_id).map((m) => String(m.text)) },
  rateLimits: {
    next: (seconds) => fake!.rateLimit('chat.postMessage', seconds),
    attempts: () => (fake?.calls ?? []).filter((c) => REPLIES.has(c.method) && c.args.channel === 'C0CONTRACT').map(({ status, at }) => ({ status, at })),
  },
  // Three sections of 3,000 characters, joined by blank lines.
  messageLimit: 3 * 3000 + 2 * 2,
  handshake: slackRequest(JSON.stringify({ type: 'url_verification', challenge: 'c' }), 'application/json'),
  chat: true,
});
