/**
 * Slack over Socket Mode end to end: a real in-process Switchboard with SLACK_APP_TOKEN and no signing secret opens
 * a connection through the fake's apps.connections.open (the real @slack/socket-mode client), receives envelopes on
 * the fake Socket Mode server, and answers through the fake Web API. Only one process holds the connection.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackAdapter } from '../channels/slack/index.ts';
import { rowsOf } from '../db/rows.ts';
import { DataDirInUseError } from '../db/index.ts';
import { askAgent } from '../src/agents/ask.ts';
import { createAgents } from '../src/agents/index.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import type { Agent } from '../src/ports.ts';
import { startSwitchboard, type Switchboard } from '../src/server.ts';
import { databaseKinds } from './support/databases.ts';
import { ADMIN_TOKEN, RELAXED_ACCESS_ENV, startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import { APP_TOKEN, BOT_TOKEN, BOT_USER, clickPayload, eventBody, startFakeSlack, TEAM, type FakeSlack } from './fakes/slack-api.ts';
import { envelope } from './fakes/slack-socket.ts';
import { pipelineIdle, waitFor } from './support/wait.ts';

// `ask SLOW…` waits until the test opens the gate: what happens on the socket before the agent is done.
let openGate: () => void = () => {};
const gate = new Promise<void>((resolve) => (openGate = resolve));
const agents: Agent[] = createAgents().map((agent) =>
  agent.name === 'ask' ? { ...askAgent, run: async (ctx) => (ctx.envelope.text.startsWith('SLOW') && (await gate), askAgent.run(ctx)) } : agent,
);

let seq = 0;
const ts = () => `1700002000.${String(++seq).padStart(6, '0')}`;
const mention = (channel: string, text: string, user = 'U0ALICE01') =>
  eventBody({ type: 'app_mention', user, text: `<@${BOT_USER}> ${text}`, ts: ts(), channel }, `EvSock${++seq}`);

describe.each(databaseKinds)('Slack Socket Mode on %s', (kind) => {
  let sb: TestSwitchboard;
  /** The process that holds the connection now: `sb` until a test stops it and another takes over. */
  let running: Switchboard;
  let fake: FakeSlack;
  let env: Record<string, string>;
  const postsTo = (channel: string) => fake.ok('chat.postMessage').filter((c) => c.args.channel === channel);
  const deliveries = async (s: Switchboard, id: string) =>
    Number(
      rowsOf<{ n: number }>(
        await s.opened.handle.db.execute(sql`select count(*)::int as n from deliveries where channel = 'slack' and delivery_id = ${id}`),
      )[0]!.n,
    );
  /** A second Switchboard on the same database, as another `start --role web` process would be. */
  const another = () =>
    startSwitchboard(loadConfig({ ADMIN_TOKEN, LOG_LEVEL: 'silent', ...RELAXED_ACCESS_ENV, ...sb.database.env, ...env }), {
      listen: false,
      poll: true,
      agents,
      logger: createLogger('silent'),
    });

  beforeAll(async () => {
    fake = await startFakeSlack();
    // No SLACK_SIGNING_SECRET: nothing is posted to /slack/events. Two messages per person at once, one more a second.
    env = { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_APP_TOKEN: APP_TOKEN, SLACK_API_URL: fake.apiUrl, RATE_LIMIT_BURST: '2', RATE_LIMIT_PER_MINUTE: '60' };
    sb = await startTestSwitchboard(kind, env, { agents, poll: true });
    running = sb;
    await fake.socket.waitForOpen();
  }, 180_000);
  afterAll(async () => {
    openGate();
    await running?.stop();
    await sb?.close();
    await fake?.close();
  });

  it('connects with the app token alone: apps.connections.open, no signing secret, and /slack/events takes no unsigned post', async () => {
    expect(fake.ok('apps.connections.open').length).toBeGreaterThan(0);
    expect(fake.socket.open()).toBe(1);
    const before = await tableCounts(sb);
    const res = await sb.app.request('/slack/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(mention('C0SOCK000', 'help')),
    });
    expect(res.status).toBe(401);
    expect(await tableCounts(sb)).toEqual(before);
  });

  it('acks a mention on the socket once it is stored and before the agent runs; the answer follows in the thread', async () => {
    const body = mention('C0SOCK001', 'SLOW what is our deploy process?');
    const env1 = envelope('events_api', body);
    fake.socket.send(env1);
    const ack = await fake.socket.ackOf(env1.envelope_id);
    expect(ack).toEqual({ envelope_id: env1.envelope_id, at: expect.any(Number) });
    // Acknowledged: the delivery is stored, and the agent is still waiting at the gate, so no answer yet.
    expect(await deliveries(running, body.event_id)).toBe(1);
    expect(postsTo('C0SOCK001').filter((p) => p.args.text !== 'Working on it…')).toEqual([]);
    openGate();
    const posts = await waitFor(
      () => fake.messages('C0SOCK001').filter((m) => m.bot_id && m.text !== 'Working on it…'),
      (m) => m.length > 0,
    );
    expect(posts[0]!.thread_ts).toBe((body.event as unknown as { ts: string }).ts);
  });

  it('a slash command: the ack carries the ephemeral note as its payload, and the answer follows at response_url', async () => {
    const command = envelope('slash_commands', {
      token: 'legacy',
      team_id: TEAM,
      team_domain: 'testteam',
      channel_id: 'C0SOCK002',
      channel_name: 'ops',
      user_id: 'U0BOB0001',
      user_name: 'bob',
      command: '/sb',
      text: 'help',
      api_app_id: 'A0APP0001',
      is_enterprise_install: 'false',
      response_url: fake.responseUrl('sock-cmd'),
      trigger_id: 'trigger.sock.1',
    });
    fake.socket.send(command);
    const ack = await fake.socket.ackOf(command.envelope_id);
    expect(ack?.payload).toEqual({ response_type: 'ephemeral', text: 'Working on it…' });
    const [answer] = await waitFor(
      () => fake.responses.filter((r) => r.id === 'sock-cmd'),
      (r) => r.length > 0,
    );
    expect(answer!.body.text).toMatch(/help/i);
  });

  it('a 👍 click arrives as an interactive envelope and is stored on the execution it rates', async () => {
    const body = mention('C0SOCK003', 'what is our on-call rota?', 'U0CAROL01');
    fake.socket.send(envelope('events_api', body));
    const [answer] = await waitFor(
      () => fake.messages('C0SOCK003').filter((m) => m.bot_id && (m.blocks as any[] | undefined)?.some((b) => b.type === 'actions')),
      (m) => m.length > 0,
    );
    const buttons = (answer!.blocks as any[]).find((b) => b.type === 'actions').elements;
    const { executionId } = JSON.parse(buttons[0].value);
    const click = envelope(
      'interactive',
      clickPayload({
        executionId,
        score: 1,
        ts: answer!.ts,
        channel: 'C0SOCK003',
        threadTs: answer!.thread_ts,
        user: 'U0CAROL01',
        responseUrl: fake.responseUrl('sock-vote'),
        blocks: answer!.blocks,
      }),
    );
    fake.socket.send(click);
    expect(await fake.socket.ackOf(click.envelope_id)).toEqual({ envelope_id: click.envelope_id, at: expect.any(Number) });
    const votes = await waitFor(
      async () => rowsOf(await running.opened.handle.db.execute(sql`select user_id, score from feedback where execution_id = ${executionId}`)),
      (v) => v.length > 0,
    );
    expect(votes).toEqual([{ user_id: 'U0CAROL01', score: 1 }]);
  });

  it('a redelivered envelope (retry_attempt) is acknowledged again and answered once', async () => {
    const body = mention('C0SOCK004', 'how do I rotate keys?', 'U0DAVE001');
    const first = envelope('events_api', body);
    const retry = envelope('events_api', body, { attempt: 1 });
    fake.socket.send(first);
    fake.socket.send(retry);
    expect(await fake.socket.ackOf(first.envelope_id)).toBeDefined();
    expect(await fake.socket.ackOf(retry.envelope_id)).toBeDefined();
    await waitFor(
      () => postsTo('C0SOCK004'),
      (p) => p.length > 0,
    );
    await pipelineIdle(running);
    expect(await deliveries(running, body.event_id)).toBe(1);
    const executions = rowsOf(
      await running.opened.handle.db.execute(
        sql`select e.id from executions e join conversations c on c.id = e.conversation_id where c.conversation_key like ${`%C0SOCK004%`}`,
      ),
    );
    expect(executions).toHaveLength(1);
  });

  it('reconnects after the connection drops, and at once after Slack asks with a disconnect message', async () => {
    const opened = fake.socket.opened();
    fake.socket.drop();
    await waitFor(
      () => fake.socket.opened(),
      (n) => n > opened,
    );
    await fake.socket.waitForOpen();
    fake.socket.disconnect('refresh_requested');
    await waitFor(
      () => fake.socket.opened(),
      (n) => n > opened + 1,
    );
    await fake.socket.waitForOpen();
    expect(fake.socket.open()).toBe(1);
    const body = mention('C0SOCK005', 'still there?', 'U0ERIN001');
    const env5 = envelope('events_api', body);
    fake.socket.send(env5);
    expect(await fake.socket.ackOf(env5.envelope_id)).toBeDefined();
    await waitFor(
      () => postsTo('C0SOCK005'),
      (p) => p.length > 0,
    );
  });

  it('an envelope that could not be stored is not acknowledged; when the process is gone, Slack redelivers it to the next one and it is answered once', async () => {
    const user = 'U0FRANK01';
    const stored = [
      envelope('events_api', mention('C0SOCK006', 'first question', user)),
      envelope('events_api', mention('C0SOCK006', 'second question', user)),
    ];
    const body = mention('C0SOCK006', 'third question', user);
    const refused = envelope('events_api', body);
    // The same person three times at once: the rate limit refuses the third, so it is not stored and not acknowledged.
    for (const e of [...stored, refused]) fake.socket.send(e);
    for (const e of stored) expect(await fake.socket.ackOf(e.envelope_id)).toBeDefined();
    expect(await fake.socket.ackOf(refused.envelope_id, 1500)).toBeUndefined();
    expect(await deliveries(running, body.event_id)).toBe(0);

    // The process stops before Slack's retry; the next one (a restart, or the standby) connects and takes it.
    await running.stop();
    await waitFor(
      () => fake.socket.open(),
      (n) => n === 0,
    );
    running = await another();
    await fake.socket.waitForOpen();
    const retry = envelope('events_api', body, { attempt: 1 });
    fake.socket.send(retry);
    expect(await fake.socket.ackOf(retry.envelope_id)).toBeDefined();
    await waitFor(
      () => postsTo('C0SOCK006'),
      (p) => p.length >= 3,
    );
    await pipelineIdle(running);
    expect(postsTo('C0SOCK006')).toHaveLength(3);
    expect(await deliveries(running, body.event_id)).toBe(1);
  });

  it('one connection across processes: a second one stands by (PostgreSQL) or cannot open the embedded database (PGlite), and takes over when the first stops', async () => {
    if (kind === 'pglite') {
      await expect(another()).rejects.toBeInstanceOf(DataDirInUseError);
      return;
    }
    const opened = fake.socket.opened();
    const standby = await another();
    // The standby asks for the lock as it starts; give it a moment to (wrongly) connect before checking it did not.
    expect(
      await waitFor(
        () => fake.socket.opened(),
        (n) => n > opened,
        1_500,
      ),
    ).toBe(opened);
    expect(fake.socket.open()).toBe(1);
    await running.stop();
    running = standby;
    // The standby asks for the lock every 5 s.
    await waitFor(
      () => fake.socket.opened(),
      (n) => n > opened,
      20_000,
    );
    await fake.socket.waitForOpen();
    expect(fake.socket.open()).toBe(1);
    const body = mention('C0SOCK007', 'who answers now?', 'U0GRACE01');
    const env7 = envelope('events_api', body);
    fake.socket.send(env7);
    expect(await fake.socket.ackOf(env7.envelope_id)).toBeDefined();
    expect(await deliveries(running, body.event_id)).toBe(1);
  });
});

describe('the Slack Socket Mode loop on its own', () => {
  it('says which token Slack refused and where to get the right one, keeps trying, and ends when stopped', async () => {
    const fake = await startFakeSlack();
    try {
      const adapter = createSlackAdapter(loadConfig({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_APP_TOKEN: 'xapp-1-wrong-0000', SLACK_API_URL: fake.apiUrl }).slack);
      const logs: { level: string; msg: string }[] = [];
      const log = (level: string) => (obj: object | string, msg?: string) => void logs.push({ level, msg: msg ?? String(obj) });
      const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
      const controller = new AbortController();
      const done = adapter.poll!(async () => undefined, { signal: controller.signal, logger });
      // Refused, then tried again after 1 s: the backoff.
      await waitFor(
        () => fake.calls.filter((c) => c.method === 'apps.connections.open'),
        (c) => c.length >= 2,
      );
      controller.abort();
      await done;
      expect(logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toContain(
        'Slack refused SLACK_APP_TOKEN (invalid_auth): set it to an app-level token (xapp-…) with connections:write from api.slack.com/apps → Basic Information → App-Level Tokens; retrying',
      );
      expect(fake.socket.opened()).toBe(0);
    } finally {
      await fake.close();
    }
  });
});
