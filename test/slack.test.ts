/**
 * Slack end to end: a real in-process Switchboard on each test database, requests signed exactly as Slack signs
 * them, and the real WebClient talking to the fake Slack Web API through SLACK_API_URL.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../db/rows.ts';
import { askAgent } from '../src/agents/ask.ts';
import { createAgents } from '../src/agents/index.ts';
import { statusAgent } from '../src/agents/status.ts';
import type { Agent } from '../src/ports.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import {
  BOT_TOKEN,
  BOT_USER,
  clickPayload,
  clickRequest,
  commandRequest,
  eventRequest,
  SIGNING_SECRET,
  slackRequest,
  startFakeSlack,
  type FakeSlack,
} from './fakes/slack-api.ts';
import { createGate, pipelineIdle, waitFor } from './support/wait.ts';

// `status` in channel C0SLOW001 and `ask SLOW…` wait for the test to open the gate: what shows before the agent is done.
const gate = createGate();
const agents: Agent[] = createAgents().map((agent) => {
  if (agent.name === 'ask') {
    return {
      ...askAgent,
      async run(ctx) {
        if (ctx.envelope.text.startsWith('SLOW')) await gate.pass();
        return askAgent.run(ctx);
      },
    };
  }
  if (agent.name === 'status') {
    return {
      ...statusAgent,
      run: async (ctx) => ((ctx.envelope.replyRef as { channel?: string })?.channel === 'C0SLOW001' && (await gate.pass()), statusAgent.run(ctx)),
    };
  }
  return agent;
});

let seq = 0;
const ts = () => `1700001000.${String(++seq).padStart(6, '0')}`;
const mention = (channel: string, text: string, extra: Record<string, unknown> = {}) => ({
  type: 'app_mention',
  user: 'U0ALICE01',
  text: `<@${BOT_USER}> ${text}`,
  ts: ts(),
  channel,
  ...extra,
});

describe.each(databaseKinds)('Slack channel on %s', (kind) => {
  let sb: TestSwitchboard;
  let fake: FakeSlack;
  const send = (init: RequestInit) => sb.app.request('/slack/events', init);
  const postsTo = (channel: string) => fake.ok('chat.postMessage').filter((c) => c.args.channel === channel);
  const updatesIn = (channel: string) => fake.ok('chat.update').filter((c) => c.args.channel === channel);
  /** What Slack shows in a channel once the bot is done: its posts as last edited. */
  const shown = (channel: string) => fake.messages(channel).filter((m) => m.bot_id);
  /** A message someone writes in a channel: Slack keeps it, and sends the app an event only when it mentions the bot. */
  const say = <E extends { channel: string; ts: string; text: string; user: string; thread_ts?: string }>(event: E) => (
    fake.addMessage(event.channel, event), event
  );

  beforeAll(async () => {
    fake = await startFakeSlack();
    sb = await startTestSwitchboard(
      kind,
      { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: fake.apiUrl, RATE_LIMIT_BURST: '1000' },
      { agents },
    );
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
  });

  it('answers the url_verification handshake with its challenge and stores nothing', async () => {
    const before = await tableCounts(sb);
    const res = await send(slackRequest(JSON.stringify({ token: 't', challenge: 'chal-3eZbrw1aBm2r', type: 'url_verification' }), 'application/json'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ challenge: 'chal-3eZbrw1aBm2r' });
    expect(await tableCounts(sb)).toEqual(before);
    const forged = slackRequest(JSON.stringify({ challenge: 'x', type: 'url_verification' }), 'application/json', { secret: 'wrong' });
    expect((await send(forged)).status).toBe(401);
  });

  it('acks a slash command at once with an ephemeral note, and the answer follows at response_url', async () => {
    // Slack's 3 s deadline is met by not waiting for the agent at all: it stays blocked at the gate until after the
    // ack, so an ack that waited for it would never come. (Timing the ack would fail on a busy machine instead.)
    const res = await send(commandRequest({ channel_id: 'C0SLOW001', text: 'status', response_url: fake.responseUrl('slow') }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ response_type: 'ephemeral', text: 'Working on it…' });
    await waitFor(() => gate.waiting, Boolean);
    expect(fake.responses.filter((r) => r.id === 'slow')).toEqual([]);
    gate.open();
    const answers = await waitFor(
      () => fake.responses.filter((r) => r.id === 'slow'),
      (a) => a.length > 0,
    );
    expect(answers).toHaveLength(1);
    expect(answers[0]!.body).toMatchObject({ response_type: 'in_channel', text: expect.stringMatching(/queue/i) });
  });

  it('routes the text after any command name: help lists commands, ask carries the question', async () => {
    await send(commandRequest({ command: '/switchboard', text: 'help', response_url: fake.responseUrl('help') }));
    const [help] = await waitFor(
      () => fake.responses.filter((r) => r.id === 'help'),
      (a) => a.length > 0,
    );
    expect(help!.body.text).toMatch(/summarize/);
    await send(commandRequest({ text: 'ask how do we deploy?', response_url: fake.responseUrl('ask') }));
    await waitFor(
      () => fake.responses.filter((r) => r.id === 'ask'),
      (a) => a.length > 0,
    );
    // The answer is delivered just before the execution is marked succeeded.
    const latest = () => sb.api('GET', '/api/executions?channel=slack&agent=ask&limit=1').then((r) => r.body.executions[0]);
    expect(await waitFor(latest, (e) => e?.status === 'succeeded')).toMatchObject({
      intent: 'ask',
      args: { question: 'how do we deploy?' },
      status: 'succeeded',
    });
  });

  it("answers a mention in its thread, reading the thread's earlier messages from Slack, also those never sent to the bot", async () => {
    const root = say({
      type: 'message',
      user: 'U0BOB0001',
      text: 'The billing deploy failed because the database migration timed out.',
      ts: ts(),
      channel: 'C0THREAD1',
    });
    say({ type: 'message', user: 'U0CAROL01', text: 'It was the invoices table lock again.', ts: ts(), channel: 'C0THREAD1', thread_ts: root.ts });
    await send(eventRequest(say(mention('C0THREAD1', 'summarize', { thread_ts: root.ts })), 'EvThread2'));
    const [answer] = await waitFor(
      () => updatesIn('C0THREAD1'),
      (u) => u.length > 0,
    );
    const [placeholder] = postsTo('C0THREAD1');
    expect(placeholder!.args).toMatchObject({ thread_ts: root.ts, text: 'Working on it…' });
    expect(answer!.args.ts).toBe(placeholder!.result!.ts);
    // Carol never wrote to the bot, yet the summary counts her message (the offline summary names participants).
    expect(answer!.args.text).toMatch(/migration/i);
    expect(answer!.args.text).toMatch(/2 messages.*U0CAROL01/);
    // Switchboard itself only ever received the mention.
    const { body } = await sb.api('GET', '/api/executions?channel=slack&agent=summarize&limit=1');
    const conversation = await sb.api('GET', `/api/conversations/${body.executions[0].conversation_id}`);
    expect(conversation.body.messages.filter((m: any) => m.role === 'user').map((m: any) => m.text)).toEqual(['summarize']);
  });

  it('shows "Working on it…" in the thread while the agent is still working', async () => {
    await send(eventRequest(say(mention('C0WAIT001', 'SLOW what changed?')), 'EvWait1'));
    const [placeholder] = await waitFor(
      () => postsTo('C0WAIT001'),
      (p) => p.length > 0,
    );
    expect(placeholder!.args.text).toBe('Working on it…');
    await waitFor(() => gate.waiting, Boolean);
    expect(updatesIn('C0WAIT001')).toEqual([]); // the agent is blocked: only the placeholder shows
    gate.open();
    const [answer] = await waitFor(
      () => updatesIn('C0WAIT001'),
      (u) => u.length > 0,
    );
    expect(answer!.args.ts).toBe(placeholder!.result!.ts);
    expect(answer!.at).toBeGreaterThanOrEqual(placeholder!.at);
    expect(postsTo('C0WAIT001')).toHaveLength(1);
  });

  it('answers from what Switchboard stored when Slack refuses to share the thread (missing scope)', async () => {
    fake.refuse('conversations.replies', { error: 'missing_scope', needed: 'groups:history' });
    try {
      const root = mention('G0PRIV001', 'The staging cluster ran out of disk on node seven.');
      await send(eventRequest(root, 'EvScope1'));
      await waitFor(
        () => updatesIn('G0PRIV001'),
        (u) => u.length > 0,
      );
      await send(eventRequest(mention('G0PRIV001', 'summarize', { thread_ts: root.ts }), 'EvScope2'));
      const updates = await waitFor(
        () => updatesIn('G0PRIV001'),
        (u) => u.length > 1,
      );
      expect(updates[1]!.args.text).toMatch(/disk/i);
      expect(fake.calls.some((c) => c.method === 'conversations.replies' && c.args.channel === 'G0PRIV001')).toBe(true);
    } finally {
      fake.restore('conversations.replies');
    }
  });

  it('answers a direct message in its thread', async () => {
    const dm = { type: 'message', channel_type: 'im', user: 'U0BOB0001', text: 'help', ts: ts(), channel: 'D0DIRECT1' };
    expect((await send(eventRequest(dm, 'EvDm1'))).status).toBe(200);
    await waitFor(
      () => updatesIn('D0DIRECT1'),
      (u) => u.length > 0,
    );
    expect(shown('D0DIRECT1')).toEqual([expect.objectContaining({ thread_ts: dm.ts, text: expect.stringMatching(/summarize/) })]);
  });

  it('never answers bots, its own messages or edits, and ignores app_home_opened and reactions without an execution', async () => {
    const before = await tableCounts(sb);
    const events = [
      { type: 'message', channel_type: 'im', bot_id: 'B0OTHER01', user: 'U0OTHER01', text: 'beep', ts: ts(), channel: 'D0BOTS001' },
      { type: 'message', channel_type: 'im', subtype: 'bot_message', bot_id: 'B0OTHER01', text: 'beep', ts: ts(), channel: 'D0BOTS001' },
      { type: 'message', channel_type: 'im', user: BOT_USER, text: 'my own answer', ts: ts(), channel: 'D0BOTS001' },
      { type: 'message', channel_type: 'im', subtype: 'message_changed', message: { user: 'U0ALICE01', text: 'help' }, ts: ts(), channel: 'D0BOTS001' },
      { type: 'app_mention', bot_id: 'B0OTHER01', user: 'U0OTHER01', text: `<@${BOT_USER}> help`, ts: ts(), channel: 'C0BOTS001' },
      { type: 'app_home_opened', user: 'U0ALICE01', channel: 'D0BOTS001', tab: 'home', event_ts: ts() },
      { type: 'reaction_added', user: 'U0ALICE01', reaction: 'tada', item: { type: 'message', channel: 'C0BOTS001', ts: ts() }, event_ts: ts() },
    ];
    for (const [i, event] of events.entries()) {
      const res = await send(eventRequest(event, `EvIgnore${i}`));
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).ignored).toEqual(expect.any(String));
    }
    await pipelineIdle(sb);
    expect(await tableCounts(sb)).toEqual(before);
    expect([...postsTo('D0BOTS001'), ...postsTo('C0BOTS001')]).toEqual([]);
  });

  it('a 👍 click is stored on the execution, the message shows the vote, and a retried click is stored once', async () => {
    await send(eventRequest(mention('C0VOTE001', 'what is our deploy process?'), 'EvVote1'));
    await waitFor(
      () => updatesIn('C0VOTE001'),
      (u) => u.length > 0,
    );
    const answer = shown('C0VOTE001')[0]!;
    const buttons = (answer.blocks as any[]).find((b: any) => b.type === 'actions').elements;
    const { executionId } = JSON.parse(buttons[0].value);
    const before = await tableCounts(sb);
    const click = clickRequest(
      clickPayload({
        executionId,
        score: 1,
        ts: answer.ts,
        channel: 'C0VOTE001',
        threadTs: answer.thread_ts,
        triggerId: 'tr.vote.1',
        responseUrl: fake.responseUrl('vote'),
        blocks: answer.blocks,
      }),
    );
    const res = await send(click);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    const [update] = await waitFor(
      () => fake.ok('chat.update').filter((c) => c.args.ts === answer.ts && JSON.stringify(c.args.blocks).includes('recorded')),
      (u) => u.length > 0,
    );
    expect(update!.args.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(update!.args.blocks)).toContain('👍 recorded by <@U0ALICE01>');
    expect((await tableCounts(sb)).feedback).toBe(before.feedback + 1);
    const votes = rowsOf(
      await sb.opened.handle.db.execute(sql`select execution_id, user_id, score, channel from feedback where execution_id = ${executionId}`),
    );
    expect(votes).toEqual([{ execution_id: executionId, user_id: 'U0ALICE01', score: 1, channel: 'slack' }]);

    const counts = await tableCounts(sb);
    expect((await send(click)).status).toBe(200);
    await pipelineIdle(sb);
    expect(await tableCounts(sb)).toEqual(counts);
    expect(fake.ok('chat.update').filter((c) => c.args.ts === answer.ts)).toHaveLength(2); // the answer, then the vote

    // A vote is not conversation: the thread's stored history, which ask and summarize read, does not show it.
    const execution = await sb.api('GET', `/api/executions/${executionId}`);
    const conversationId = execution.body.conversation_id ?? execution.body.execution?.conversation_id;
    const stored = await sb.api('GET', `/api/conversations/${conversationId}`);
    expect(stored.body.messages.map((m: any) => m.text)).toContain('+1'); // it is stored …
    const history = await sb.opened.store.history(conversationId, null);
    expect(history.map((m) => m.text)).toEqual(['what is our deploy process?', expect.any(String)]); // … but not read
    expect(history.map((m) => m.text).join('\n')).not.toMatch(/\+1|recorded/);
  });

  it('a 👎 on a slash-command answer is marked through its response_url, which chat.update cannot edit', async () => {
    await send(commandRequest({ channel_id: 'C0CMDV001', text: 'ask how do we roll back?', response_url: fake.responseUrl('cmdvote') }));
    const [answer] = await waitFor(
      () => fake.responses.filter((r) => r.id === 'cmdvote'),
      (a) => a.length > 0,
    );
    const down = answer!.body.blocks.at(-1).elements[1];
    const { executionId } = JSON.parse(down.value);
    const click = clickPayload({
      executionId,
      score: -1,
      ts: '1700009999.000001',
      channel: 'C0CMDV001',
      responseUrl: fake.responseUrl('cmdvote-click'),
      blocks: answer!.body.blocks,
    });
    // Slack sends back the clicked button's own value.
    const payload = { ...click, actions: [{ ...click.actions[0]!, value: down.value }] };
    expect((await send(clickRequest(payload))).status).toBe(200);
    const [marked] = await waitFor(
      () => fake.responses.filter((r) => r.id === 'cmdvote-click'),
      (a) => a.length > 0,
    );
    expect(marked!.body).toMatchObject({ replace_original: true });
    expect(JSON.stringify(marked!.body.blocks)).toContain('👎 recorded by <@U0ALICE01>');
    expect(marked!.body.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    expect(fake.calls.filter((c) => c.method === 'chat.update' && c.args.channel === 'C0CMDV001')).toEqual([]);
    const votes = rowsOf(await sb.opened.handle.db.execute(sql`select score from feedback where execution_id = ${executionId}`));
    expect(votes).toEqual([{ score: -1 }]);
  });
});
