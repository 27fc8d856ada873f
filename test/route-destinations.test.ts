/**
 * Routing rule destinations are checked when the rule is added: a target the channel cannot deliver to (a Slack
 * channel name, a Telegram chat that is no chat id, a WhatsApp number without country code) is refused with 400
 * naming the format to use, through the API and through the `routes add` CLI verb, instead of being stored and
 * failing to dead at delivery.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN as SLACK_BOT_TOKEN, SIGNING_SECRET } from './fakes/slack-api.ts';
import { BOT_TOKEN as TELEGRAM_BOT_TOKEN, WEBHOOK_SECRET } from './fakes/telegram-api.ts';
import { ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, WHATSAPP_FROM } from './fakes/twilio-api.ts';
import { databaseKinds } from './support/databases.ts';
import { runCliInProcess } from './support/cli.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

// Nothing is delivered in these tests: the API addresses only have to be well-formed and unreachable.
const NOWHERE = 'http://127.0.0.1:9';
const CHANNELS_ENV = {
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  SLACK_BOT_TOKEN,
  SLACK_API_URL: `${NOWHERE}/api/`,
  TELEGRAM_BOT_TOKEN,
  TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
  TELEGRAM_API_ROOT: NOWHERE,
  TWILIO_ACCOUNT_SID: ACCOUNT_SID,
  TWILIO_AUTH_TOKEN: AUTH_TOKEN,
  TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
  TWILIO_API_URL: NOWHERE,
  PUBLIC_URL,
};

/** Per channel: targets its postTo delivers to, targets it cannot, and what the refusal must tell the operator. */
const TARGETS = {
  slack: {
    good: ['C0123456789', 'G0PRIVATE01', 'U0USER00001', 'W0ENTERPRISE1', 'D0DIRECT001'],
    bad: ['#general', 'general', 'c0123456789', 'C0123 456', 'https://acme.slack.com/archives/C0123456789'],
    says: /not a Slack channel or user id: use an id like C0123456789/,
  },
  telegram: {
    good: ['-1001234567890', '123456789', '@switchboard_news', '-1001234567890:42'],
    bad: ['@abc', 'chat-1', '-1001234567890:general', 'https://t.me/switchboard_news', '+31612345678'],
    says: /not a Telegram chat: use a chat id like -1001234567890 \(optionally :<topic id>\) or @channelname/,
  },
  whatsapp: {
    good: ['+31612345678', 'whatsapp:+14155238886'],
    bad: ['0612345678', '31612345678', '+0612345678', 'whatsapp:alice', '+3161234567890123456'],
    says: /not a WhatsApp number: use the international \(E\.164\) format.*\+31612345678/,
  },
} as const;
type Channel = keyof typeof TARGETS;
const CHANNELS = Object.keys(TARGETS) as Channel[];

describe.each(databaseKinds)('routing rule destinations through the API on %s', (kind) => {
  let sb: TestSwitchboard;
  const addRoute = (channel: string, target: string) => sb.api('POST', '/api/routes', { source: 'ci', agent: 'summarize', destination: { channel, target } });
  beforeAll(async () => {
    sb = await startTestSwitchboard(kind, CHANNELS_ENV);
  });
  afterAll(async () => sb?.close());

  it.each(CHANNELS)('%s: refuses targets it cannot deliver to with 400 invalid_destination naming the format, storing nothing', async (channel) => {
    for (const target of TARGETS[channel].bad) {
      const res = await addRoute(channel, target);
      expect({ target, status: res.status, code: res.body.error?.code }).toEqual({ target, status: 400, code: 'invalid_destination' });
      expect(res.body.error.message).toMatch(TARGETS[channel].says);
      expect(res.body.error.message).toContain(`"${target}"`);
    }
    const stored = (await sb.api('GET', '/api/routes')).body.routes;
    expect(stored.filter((r: any) => r.destination.channel === channel)).toEqual([]);
  });

  it('a disabled destination channel still says which variables enable it, whatever the target', async () => {
    const bare = await startTestSwitchboard(kind);
    try {
      const res = await bare.api('POST', '/api/routes', { source: 'ci', agent: 'summarize', destination: { channel: 'telegram', target: 'not-a-chat' } });
      expect(res.status).toBe(400);
      expect(res.body.error).toEqual({
        code: 'invalid_destination',
        message: expect.stringMatching(/^The telegram channel is disabled: set TELEGRAM_BOT_TOKEN/),
      });
    } finally {
      await bare.close();
    }
  });

  it.each(CHANNELS)('%s: stores rules whose target it can deliver to', async (channel) => {
    for (const target of TARGETS[channel].good) {
      const res = await addRoute(channel, target);
      expect({ target, status: res.status }).toEqual({ target, status: 201 });
      expect(res.body.destination).toEqual({ channel, target });
    }
    const stored = (await sb.api('GET', '/api/routes')).body.routes;
    expect(
      stored
        .filter((r: any) => r.destination.channel === channel)
        .map((r: any) => r.destination.target)
        .sort(),
    ).toEqual([...TARGETS[channel].good].sort());
  });
});

describe('routing rule destinations through `switchboard routes add`', () => {
  let dataDir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'sb-route-destinations-'));
    env = { ...CHANNELS_ENV, DATA_DIR: dataDir };
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it.each(CHANNELS)('%s: adds a rule with a good target and refuses a bad one, saying what to write', async (channel) => {
    const [good] = TARGETS[channel].good;
    const [bad] = TARGETS[channel].bad;
    const added = await runCliInProcess(['routes', 'add', 'ci', 'summarize', `${channel}:${good}`, '--event', 'build.*'], env);
    expect(added.output).toContain(`→ summarize → ${channel}:${good}`);
    expect(added.code).toBe(0);
    const refused = await runCliInProcess(['routes', 'add', 'ci', 'summarize', `${channel}:${bad}`], env);
    expect(refused.output).toContain('invalid_destination');
    expect(refused.output).toMatch(TARGETS[channel].says);
    expect(refused.code).toBe(1);
  });
});
