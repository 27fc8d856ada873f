/** Slack through the channel contract every platform adapter passes. */
import { WORKING_ON_IT } from '../channels/slack/index.ts';
import { channelContract } from './support/channel-contract.ts';
import { BOT_TOKEN, BOT_USER, eventRequest, SIGNING_SECRET, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';

let fake: FakeSlack | undefined;
let seq = 0;

channelContract({
  name: 'Slack',
  route: '/slack/events',
  env: (fakeUrl) => ({ SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: fakeUrl }),
  requiredEnv: ['SLACK_SIGNING_SECRET', 'SLACK_BOT_TOKEN'],
  async startFake() {
    const started = await startFakeSlack();
    fake = started;
    return { url: started.apiUrl, close: () => started.close() };
  },
  // A mention with the contract's delivery id as event_id, the key Slack's retries repeat.
  message: (id, text, user = 'U0ALICE01') =>
    eventRequest({ type: 'app_mention', user, text: `<@${BOT_USER}> ${text}`, ts: `1700002000.${String(++seq).padStart(6, '0')}`, channel: 'C0CONTRACT' }, id),
  tamper: (init) => ({ ...init, body: (init.body as string).replace('C0CONTRACT', 'C0TAMPERED') }),
  // What the channel shows: the bot's messages as last edited, once the answer replaced "Working on it…".
  sent: () => (fake?.messages('C0CONTRACT') ?? []).filter((m) => m.bot_id && m.text !== WORKING_ON_IT).map((m) => String(m.text)),
  chat: true,
});
