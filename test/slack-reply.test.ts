/** Sending to Slack through the real WebClient against the fake Web API: threads, parts, votes, 429s. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSlackAdapter, PLACEHOLDER, SlackRateLimitedError, type SlackReplyRef } from '../channels/slack/index.ts';
import { loadConfig } from '../src/config.ts';
import type { Envelope } from '../src/types.ts';
import { BOT_TOKEN, SIGNING_SECRET, startFakeSlack, type FakeSlack } from './fakes/slack-api.ts';

let fake: FakeSlack;
const slept: number[] = [];
let adapter: ReturnType<typeof createSlackAdapter>;

beforeAll(async () => {
  fake = await startFakeSlack();
  const config = loadConfig({ SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: fake.apiUrl });
  // The sleep is recorded instead of waited, so Retry-After handling is checked without slowing the suite.
  adapter = createSlackAdapter(config.slack, { sleep: async (ms) => void slept.push(ms) });
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.calls.length = 0;
  fake.responses.length = 0;
  slept.length = 0;
});

function envelope(replyRef: SlackReplyRef): Envelope {
  return { channel: 'slack', deliveryId: 'Ev1', tenantId: 'T', conversationKey: 'k', userId: 'U1', text: 'q', receivedAt: new Date().toISOString(), replyRef };
}
const thread = envelope({ kind: 'thread', channel: 'C0REPLY01', threadTs: '1700000001.000001' });
const longText = Array.from({ length: 30 }, (_, i) => `Part ${i}. ${'x'.repeat(1400)}`).join('\n\n');

describe('Slack replies', () => {
  it('answers in the thread it was asked in, with feedback buttons naming the execution', async () => {
    await adapter.reply(thread, { text: 'deploy with `make ship` <after> review', feedback: true }, { executionId: 'exec-1' });
    const [post] = fake.ok('chat.postMessage');
    expect(post!.args).toMatchObject({ channel: 'C0REPLY01', thread_ts: '1700000001.000001', text: 'deploy with `make ship` &lt;after&gt; review' });
    expect(JSON.parse(post!.args.blocks.at(-1).elements[0].value)).toEqual({ executionId: 'exec-1', score: 1 });
  });

  it('posts a long answer as a placeholder updated with part one, then the other parts in the thread', async () => {
    await adapter.reply(thread, { text: longText, feedback: true }, { executionId: 'exec-2' });
    const [placeholder, update, ...rest] = fake.calls;
    expect(placeholder).toMatchObject({ method: 'chat.postMessage', args: { text: PLACEHOLDER, thread_ts: '1700000001.000001' } });
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

  it('waits out a short Retry-After and sends once', async () => {
    fake.rateLimit('chat.postMessage', 2);
    await adapter.reply(thread, { text: 'after the wait' }, { executionId: 'exec-3' });
    expect(slept).toEqual([2000]);
    expect(fake.calls.map((c) => c.status)).toEqual([429, 200]);
    expect(fake.ok('chat.postMessage')).toHaveLength(1);
  });

  it('hands a long Retry-After to the queue in the error, and the later retry sends the message once', async () => {
    fake.rateLimit('chat.postMessage', 120);
    const failed = await adapter.reply(thread, { text: 'later' }, { executionId: 'exec-4' }).catch((e) => e);
    expect(failed).toBeInstanceOf(SlackRateLimitedError);
    expect(failed.retryAfterSeconds).toBe(120);
    expect(slept).toEqual([]);
    expect(fake.ok('chat.postMessage')).toHaveLength(0);
    await adapter.reply(thread, { text: 'later' }, { executionId: 'exec-4' });
    expect(fake.ok('chat.postMessage').map((c) => c.args.text)).toEqual(['later']);
  });

  it('a retried long answer resumes after the parts already sent', async () => {
    const resume = envelope({ kind: 'thread', channel: 'C0RESUME1', threadTs: '1700000001.000009' });
    // The placeholder goes through, then the second part meets a Retry-After too long to wait out.
    fake.rateLimit('chat.postMessage', 600, { after: 1 });
    const failed = await adapter.reply(resume, { text: longText }, { executionId: 'exec-5' }).catch((e) => e);
    expect(failed).toBeInstanceOf(SlackRateLimitedError);
    await adapter.reply(resume, { text: longText }, { executionId: 'exec-5' });
    expect(fake.ok('chat.postMessage').filter((c) => c.args.text === PLACEHOLDER)).toHaveLength(1);
    expect(fake.ok('chat.update')).toHaveLength(1);
    const sections = [...fake.ok('chat.update'), ...fake.ok('chat.postMessage').slice(1)].flatMap((c) => c.args.blocks.map((b: any) => b.text.text));
    expect(sections.join('\n\n')).toBe(longText);
  });

  it('streams an answer into one thread message that the final reply completes', async () => {
    const ref = { kind: 'thread', channel: 'C0STREAM1', threadTs: '1700000001.000002', executionId: 'exec-s' };
    await adapter.update!(ref, { text: 'Deploys go' });
    await adapter.update!(ref, { text: 'Deploys go through `make ship`' });
    await adapter.reply(envelope({ kind: 'thread', channel: 'C0STREAM1', threadTs: '1700000001.000002' }), { text: 'Deploys go through `make ship`.', feedback: true }, { executionId: 'exec-s' });
    const [posted, ...edits] = fake.calls;
    expect(posted).toMatchObject({ method: 'chat.postMessage', args: { thread_ts: '1700000001.000002', text: 'Deploys go' } });
    expect(edits.map((c) => [c.method, c.args.ts, c.args.text])).toEqual([
      ['chat.update', posted!.result!.ts, 'Deploys go through `make ship`'],
      ['chat.update', posted!.result!.ts, 'Deploys go through `make ship`.'],
    ]);
    expect(edits.at(-1)!.args.blocks.at(-1).type).toBe('actions'); // buttons only once the answer is final
    expect(edits[0]!.args.blocks.some((b: any) => b.type === 'actions')).toBe(false);
  });

  it('edits a named message, and leaves a slash command response alone while streaming', async () => {
    await adapter.update!({ channel: 'C0EDIT001', ts: '1700000000.000042' }, { text: 'edited' });
    expect(fake.calls.map((c) => [c.method, c.args.ts, c.args.text])).toEqual([['chat.update', '1700000000.000042', 'edited']]);
    await adapter.update!({ kind: 'command', channel: 'C0CMD0001', responseUrl: fake.responseUrl('x'), executionId: 'exec-c' }, { text: 'so far' });
    expect(fake.calls).toHaveLength(1);
    expect(fake.responses).toEqual([]);
  });

  it('answers a slash command through its response_url, in the channel', async () => {
    const responseUrl = fake.responseUrl('cmd-1');
    await adapter.reply(envelope({ kind: 'command', channel: 'C0CMD0001', responseUrl }), { text: 'pong' }, { executionId: 'exec-8' });
    expect(fake.responses).toEqual([expect.objectContaining({ id: 'cmd-1', body: expect.objectContaining({ response_type: 'in_channel', text: 'pong' }) })]);
    expect(fake.calls).toEqual([]);
  });

  it('posts to a channel id for routing rules; parts after the first go into its thread', async () => {
    await adapter.postToChannel('C0ROUTED1', { text: longText }, { executionId: 'exec-9' });
    const [first, ...rest] = fake.ok('chat.postMessage');
    expect(first!.args.channel).toBe('C0ROUTED1');
    expect(first!.args.thread_ts).toBeUndefined();
    expect(rest.length).toBeGreaterThan(0);
    expect(rest.every((p) => p.args.channel === 'C0ROUTED1' && p.args.thread_ts === first!.result!.ts)).toBe(true);
  });

  it('explains platform errors an operator can fix', async () => {
    await expect(adapter.postToChannel('', { text: 'x' }, { executionId: 'exec-10' })).rejects.toThrow(/channel_not_found; check the channel id/);
  });
});
