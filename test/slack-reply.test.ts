/** Sending to Slack through the real WebClient against the fake Web API: threads, parts, votes, 429s, thread history. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSlackAdapter, WORKING_ON_IT, type SlackReplyRef } from '../channels/slack/index.ts';
import { loadConfig } from '../src/config.ts';
import type { Envelope } from '../src/types.ts';
import { BOT_ID, BOT_TOKEN, BOT_USER, SIGNING_SECRET, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';
import { outbound } from './support/outbound.ts';
import { senderContract } from './support/sender-contract.ts';

let fake: FakeSlack;
const warnings: string[] = [];
let adapter: ReturnType<typeof createSlackAdapter>;
// The outbound step in front of it, as the worker runs it; its waits for Retry-After are recorded, not waited.
let out: ReturnType<typeof outbound>;
let config: ReturnType<typeof loadConfig>;
const logger = { debug() {}, info() {}, error() {}, warn: (_: unknown, msg?: string) => void warnings.push(msg ?? '') };

beforeAll(async () => {
  fake = await startFakeSlack();
  config = loadConfig({ SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: fake.apiUrl });
  adapter = createSlackAdapter(config.slack, { logger });
  out = outbound(adapter);
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.calls.length = 0;
  fake.responses.length = 0;
  out.slept.length = 0;
  warnings.length = 0;
});

function envelope(replyRef: SlackReplyRef, extra: Partial<Envelope> = {}): Envelope {
  return {
    channel: 'slack',
    deliveryId: 'Ev1',
    tenantId: 'T',
    conversationKey: 'k',
    userId: 'U1',
    text: 'q',
    receivedAt: new Date().toISOString(),
    replyRef,
    ...extra,
  };
}
/** A mention at `messageTs` in the thread `threadTs`, as normalize makes it. */
function threadEnvelope(channel: string, threadTs: string, messageTs: string): Envelope {
  return envelope({ kind: 'thread', channel, threadTs }, { threadRef: { channel, threadTs, messageTs } });
}
const thread = envelope({ kind: 'thread', channel: 'C0REPLY01', threadTs: '1700000001.000001' });
const longText = Array.from({ length: 30 }, (_, i) => `Part ${i}. ${'x'.repeat(1400)}`).join('\n\n');

let senderFake: FakeSlack;
senderContract({
  name: 'Slack',
  async start() {
    senderFake = await startFakeSlack();
    const slack = loadConfig({ SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: senderFake.apiUrl }).slack;
    return { sender: outbound(createSlackAdapter(slack, { logger })), close: () => senderFake.close() };
  },
  envelope: (n) => envelope({ kind: 'thread', channel: `C0SENDER${n}`, threadTs: `1700000002.00000${n}` }),
  sent: (n) =>
    senderFake
      .ok('chat.postMessage')
      .filter((c) => c.args.channel === `C0SENDER${n}`)
      .map((c) => String(c.args.text)),
  rateLimit: (seconds, after = 0) => senderFake.rateLimit('chat.postMessage', seconds, { after }),
  // Three sections of 3,000 characters make one message.
  wordsPerMessage: 1700,
});

describe('Slack replies', () => {
  it('answers in the thread it was asked in, with feedback buttons naming the execution', async () => {
    await out.reply(thread, { text: 'deploy with `make ship` <after> review', feedback: true }, { executionId: 'exec-1' });
    const [post] = fake.ok('chat.postMessage');
    expect(post!.args).toMatchObject({ channel: 'C0REPLY01', thread_ts: '1700000001.000001', text: 'deploy with `make ship` &lt;after&gt; review' });
    expect(JSON.parse(post!.args.blocks.at(-1).elements[0].value)).toEqual({ executionId: 'exec-1', score: 1 });
  });

  it('posts "Working on it…" before the agent runs, then replaces it with part one and posts the other parts in the thread', async () => {
    const prepared = await adapter.prepare!(thread, { executionId: 'exec-2', agent: 'ask' });
    expect(fake.calls.map((c) => [c.method, c.args.text])).toEqual([['chat.postMessage', WORKING_ON_IT]]);
    await out.reply(thread, { text: longText, feedback: true, context: prepared.context }, { executionId: 'exec-2' });
    const [placeholder, update, ...rest] = fake.calls;
    expect(placeholder).toMatchObject({ method: 'chat.postMessage', args: { text: WORKING_ON_IT, thread_ts: '1700000001.000001' } });
    expect(update).toMatchObject({ method: 'chat.update', args: { channel: 'C0REPLY01', ts: placeholder!.result!.ts } });
    expect(rest.length).toBeGreaterThan(0);
    expect(rest.every((c) => c.method === 'chat.postMessage' && c.args.thread_ts === '1700000001.000001')).toBe(true);
    const parts = [update!, ...rest];
    const sections = parts.flatMap((c) => c.args.blocks.filter((b: any) => b.type === 'section').map((b: any) => b.text.text as string));
    expect(sections.every((s) => s.length <= 3000)).toBe(true);
    expect(sections.join('\n\n')).toBe(longText);
    expect(parts.map((c) => c.args.blocks.at(-1).type).filter((t: string) => t === 'actions')).toHaveLength(1);
    expect(parts.at(-1)!.args.blocks.at(-1).type).toBe('actions');
  });

  it('a delivery retried by another process edits the placeholder the first one posted', async () => {
    const first = await adapter.prepare!(thread, { executionId: 'exec-6', agent: 'ask' });
    const other = createSlackAdapter(config.slack);
    await outbound(other).reply(thread, { text: 'the answer', feedback: true, context: first.context }, { executionId: 'exec-6' });
    expect(fake.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.update']);
    expect(fake.calls[1]!.args).toMatchObject({ ts: first.context!.placeholderTs, text: 'the answer' });
  });

  it('streams an answer into one thread message that the final reply completes', async () => {
    const streamed = envelope({ kind: 'thread', channel: 'C0STREAM1', threadTs: '1700000001.000002' });
    await adapter.update!(streamed, 'Deploys go', { executionId: 'exec-s' });
    await adapter.update!(streamed, 'Deploys go through `make ship`', { executionId: 'exec-s' });
    await out.reply(streamed, { text: 'Deploys go through `make ship`.', feedback: true }, { executionId: 'exec-s' });
    const [posted, ...edits] = fake.calls;
    expect(posted).toMatchObject({ method: 'chat.postMessage', args: { thread_ts: '1700000001.000002', text: 'Deploys go' } });
    expect(edits.map((c) => [c.method, c.args.ts, c.args.text])).toEqual([
      ['chat.update', posted!.result!.ts, 'Deploys go through `make ship`'],
      ['chat.update', posted!.result!.ts, 'Deploys go through `make ship`.'],
    ]);
    expect(edits.at(-1)!.args.blocks.at(-1).type).toBe('actions'); // buttons only once the answer is final
    expect(edits[0]!.args.blocks.some((b: any) => b.type === 'actions')).toBe(false);
  });

  it('leaves a slash command response alone while streaming', async () => {
    await adapter.update!(envelope({ kind: 'command', channel: 'C0CMD0001', responseUrl: fake.responseUrl('x') }), 'so far', { executionId: 'exec-c' });
    expect(fake.calls).toEqual([]);
    expect(fake.responses).toEqual([]);
  });

  it('answers a slash command through its response_url, in the channel', async () => {
    const responseUrl = fake.responseUrl('cmd-1');
    await out.reply(envelope({ kind: 'command', channel: 'C0CMD0001', responseUrl }), { text: 'pong' }, { executionId: 'exec-8' });
    expect(fake.responses).toEqual([expect.objectContaining({ id: 'cmd-1', body: expect.objectContaining({ response_type: 'in_channel', text: 'pong' }) })]);
    expect(fake.calls).toEqual([]);
  });

  it('posts to a channel id for routing rules; parts after the first go into its thread', async () => {
    await out.postTo('C0ROUTED1', { text: longText }, { executionId: 'exec-9' });
    const [first, ...rest] = fake.ok('chat.postMessage');
    expect(first!.args.channel).toBe('C0ROUTED1');
    expect(first!.args.thread_ts).toBeUndefined();
    expect(rest.length).toBeGreaterThan(0);
    expect(rest.every((p) => p.args.channel === 'C0ROUTED1' && p.args.thread_ts === first!.result!.ts)).toBe(true);
  });

  it('explains platform errors an operator can fix', async () => {
    await expect(out.postTo('', { text: 'x' }, { executionId: 'exec-10' })).rejects.toThrow(/channel_not_found; check the channel id/);
  });
});

describe('Slack thread history and placeholders (prepare)', () => {
  const human = (ts: string, user: string, text: string, threadTs = '1700002000.000001') => ({
    ts,
    user,
    text,
    ...(ts === threadTs ? {} : { thread_ts: threadTs }),
  });

  it("reads the thread's earlier messages from Slack: people who never mentioned the bot, and the bot's own answers", async () => {
    const root = '1700002000.000001';
    fake.addMessage('C0HIST001', human(root, 'U0BOB0001', 'The billing deploy failed: the migration &lt;timed out&gt;', root));
    fake.addMessage('C0HIST001', { ts: '1700002000.000002', thread_ts: root, user: BOT_USER, bot_id: BOT_ID, text: 'Which migration?' });
    fake.addMessage('C0HIST001', { ts: '1700002000.000003', thread_ts: root, user: BOT_USER, bot_id: BOT_ID, text: WORKING_ON_IT });
    fake.addMessage('C0HIST001', { ts: '1700002000.000004', thread_ts: root, subtype: 'channel_join', user: 'U0CAROL01', text: '<@U0CAROL01> has joined' });
    fake.addMessage('C0HIST001', human('1700002000.000005', 'U0CAROL01', `<@${BOT_USER}> summarize`));
    fake.addMessage('C0HIST001', human('1700002000.000006', 'U0BOB0001', 'written after the question'));
    const asked = threadEnvelope('C0HIST001', root, '1700002000.000005');
    const prepared = await adapter.prepare!(asked, { executionId: 'exec-h1', agent: 'summarize' });
    expect(prepared.history!.map((m) => [m.role, m.userId, m.text])).toEqual([
      ['user', 'U0BOB0001', 'The billing deploy failed: the migration <timed out>'],
      ['assistant', null, 'Which migration?'],
    ]);
    expect(prepared.history![0]!.at).toBe(new Date(1_700_002_000_000).toISOString());
    expect(fake.ok('conversations.replies')[0]!.args).toMatchObject({ channel: 'C0HIST001', ts: root });
    // "Working on it…" went up in the thread, and a repeated prepare in this process does not post a second one.
    expect(fake.ok('chat.postMessage').map((c) => c.args)).toEqual([expect.objectContaining({ text: WORKING_ON_IT, thread_ts: root })]);
    await adapter.prepare!(asked, { executionId: 'exec-h1', agent: 'summarize' });
    expect(fake.ok('chat.postMessage')).toHaveLength(1);
  });

  it('follows the cursor through a long thread and keeps the latest messages before the question', async () => {
    const root = '1700003000.000001';
    fake.addMessage('C0HIST002', human(root, 'U0BOB0001', 'message 0', root));
    for (let i = 1; i < 450; i++) fake.addMessage('C0HIST002', human(`1700003000.${String(i + 1).padStart(6, '0')}`, 'U0BOB0001', `message ${i}`, root));
    const prepared = await adapter.prepare!(threadEnvelope('C0HIST002', root, '1700003000.000421'), { executionId: 'exec-h2', agent: 'ask' });
    expect(fake.ok('conversations.replies')).toHaveLength(3);
    expect(prepared.history).toHaveLength(50);
    expect(prepared.history!.at(-1)!.text).toBe('message 419');
    expect(prepared.history![0]!.text).toBe('message 370');
  });

  it('an attempt in another process reuses the "Working on it…" an earlier attempt posted (found by its metadata)', async () => {
    const root = '1700007000.000001';
    fake.addMessage('C0HIST005', human(root, 'U0BOB0001', `<@${BOT_USER}> why is CI red?`, root));
    const asked = threadEnvelope('C0HIST005', root, root);
    const first = await adapter.prepare!(asked, { executionId: 'exec-h7', agent: 'ask' });
    const other = createSlackAdapter(config.slack);
    const second = await other.prepare!(asked, { executionId: 'exec-h7', agent: 'ask' });
    expect(second.context).toEqual(first.context);
    expect(fake.ok('chat.postMessage')).toHaveLength(1);
    expect(second.history).toEqual([]); // the note itself is not history
    // Another execution in the same thread gets its own note.
    const third = await other.prepare!(asked, { executionId: 'exec-h8', agent: 'ask' });
    expect(third.context!.placeholderTs).not.toBe(first.context!.placeholderTs);
  });

  it('falls back to stored history when Slack refuses the thread, warning which scope to add', async () => {
    const root = '1700004000.000001';
    fake.addMessage('C0HIST003', human(root, 'U0BOB0001', 'secret plans', root));
    fake.refuse('conversations.replies', { error: 'missing_scope', needed: 'channels:history', provided: 'chat:write,commands' });
    try {
      const prepared = await adapter.prepare!(threadEnvelope('C0HIST003', root, '1700004000.000002'), { executionId: 'exec-h3', agent: 'ask' });
      expect(prepared.history).toBeUndefined();
      expect(prepared.context).toEqual({ placeholderTs: expect.any(String) });
      expect(warnings).toEqual([expect.stringContaining('add the channels:history bot scope')]);
    } finally {
      fake.restore('conversations.replies');
    }
  });

  it('a message that starts its thread has no history; slash commands and votes keep stored history and get no placeholder', async () => {
    fake.addMessage('C0HIST004', human('1700005000.000001', 'U0BOB0001', `<@${BOT_USER}> hello`, '1700005000.000001'));
    const top = await adapter.prepare!(threadEnvelope('C0HIST004', '1700005000.000001', '1700005000.000001'), { executionId: 'exec-h4', agent: 'ask' });
    expect(top.history).toEqual([]);
    expect(fake.calls.map((c) => c.method)).toEqual(['conversations.replies', 'chat.postMessage']);
    fake.calls.length = 0;
    const command = await adapter.prepare!(envelope({ kind: 'command', channel: 'C0CMD0001', responseUrl: fake.responseUrl('p') }), {
      executionId: 'exec-h5',
      agent: 'ask',
    });
    const vote = await adapter.prepare!(thread, { executionId: 'exec-h6', agent: 'feedback' });
    expect([command.history, command.context, vote.history, vote.context]).toEqual([undefined, undefined, undefined, undefined]);
    expect(fake.calls).toEqual([]);
  });
});

describe('Slack votes', () => {
  const answer = [
    { type: 'section', text: { type: 'mrkdwn', text: 'pong' } },
    { type: 'actions', block_id: 'sb_feedback', elements: [] },
  ];
  const vote = (via?: 'response_url', blocks: unknown[] = answer): SlackReplyRef => ({
    kind: 'vote',
    channel: 'C0VOTES01',
    ts: '1700006000.000001',
    userId: 'U0ALICE01',
    score: 1,
    responseUrl: fake.responseUrl('vote'),
    text: 'pong',
    blocks,
    ...(via ? { via } : {}),
  });

  it('marks a vote on a slash-command answer through the response_url, replacing the original', async () => {
    await out.reply(envelope(vote('response_url')), { text: 'Thanks — recorded', data: { executionId: 'exec-v1' } }, { executionId: 'exec-v2' });
    expect(fake.calls).toEqual([]);
    expect(fake.responses).toHaveLength(1);
    const body = fake.responses[0]!.body;
    expect(body).toMatchObject({ replace_original: true, text: 'pong' });
    expect(body.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(body.blocks)).toContain('pong');
    expect(JSON.stringify(body.blocks)).toContain('👍 recorded by <@U0ALICE01>');
  });

  it('never erases an answer Slack sent without its message: the vote is confirmed to the voter alone', async () => {
    await out.reply(envelope(vote('response_url', [])), { text: 'Thanks — recorded', data: { executionId: 'exec-v1' } }, { executionId: 'exec-v3' });
    expect(fake.responses[0]!.body).toMatchObject({ replace_original: false, response_type: 'ephemeral', text: '👍 recorded' });
  });

  it('marks a vote on a message the bot posted with chat.update', async () => {
    fake.addMessage('C0VOTES01', { ts: '1700006000.000001', text: 'pong', user: BOT_USER, bot_id: BOT_ID });
    await out.reply(envelope(vote()), { text: 'Thanks — recorded', data: { executionId: 'exec-v1' } }, { executionId: 'exec-v4' });
    expect(fake.ok('chat.update')).toHaveLength(1);
    expect(fake.responses).toEqual([]);
  });

  it('slash-command answers carry buttons that say the vote goes back through response_url', async () => {
    await out.reply(
      envelope({ kind: 'command', channel: 'C0CMD0001', responseUrl: fake.responseUrl('cmd-v') }),
      { text: 'pong', feedback: true },
      { executionId: 'exec-v5' },
    );
    const buttons = fake.responses[0]!.body.blocks.at(-1).elements;
    expect(JSON.parse(buttons[0].value)).toEqual({ executionId: 'exec-v5', score: 1, via: 'response_url' });
  });
});
