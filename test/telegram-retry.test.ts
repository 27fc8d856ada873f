/**
 * Deliveries that fail on the platform, end to end: a real in-process Switchboard, updates posted as Telegram posts
 * them, and the real grammY client talking to the fake Bot API, which is told to refuse a call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAgent } from '../src/agents/ask.ts';
import { createAgents } from '../src/agents/index.ts';
import type { Agent } from '../src/ports.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';
import {
  ALICE,
  BOT_TOKEN,
  messageUpdate,
  parseTelegramHtml,
  startFakeTelegram,
  telegramRequest,
  WEBHOOK_SECRET,
  type FakeTelegram,
} from './fakes/telegram-api.ts';
import { waitFor } from './support/wait.ts';

// Code with no line break or space to cut at, longer than two messages.
const UNBROKEN = 'x'.repeat(9000);

/** The ask agent, counting its runs: a retry that asked it again would show as a second run. */
function countingAsk() {
  const runs: string[] = [];
  const agent: Agent = {
    ...askAgent,
    async run(ctx) {
      runs.push(ctx.executionId);
      if (ctx.envelope.text.startsWith('UNBROKEN')) return { text: `\`\`\`${UNBROKEN}\`\`\`` };
      return { text: `answer #${runs.length}` };
    },
  };
  return { agent, runs };
}

/** What Telegram counts against its limit: the text a user sees, after entity parsing. */
function visibleLength(args: Record<string, any>): number {
  const text = String(args.text ?? '');
  if (args.parse_mode !== 'HTML') return text.length;
  const parsed = parseTelegramHtml(text);
  return 'error' in parsed ? text.length : parsed.text.length;
}

let chatSeq = 0;
const privateChat = () => ({ id: ALICE.id + ++chatSeq * 1000 + 900_000, type: 'private' as const, first_name: ALICE.first_name });

describe.each(databaseKinds)('Telegram deliveries that fail on %s', (kind) => {
  let sb: TestSwitchboard;
  let fake: FakeTelegram;
  const ask = countingAsk();
  const send = (update: unknown) => sb.app.request('/telegram/webhook', telegramRequest(update));
  const sendsTo = (chatId: number) => fake.calls.filter((c) => c.method === 'sendMessage' && c.args.chat_id === chatId);
  const execution = async () => (await sb.api('GET', '/api/executions?channel=telegram&agent=ask&limit=1')).body.executions[0];

  beforeAll(async () => {
    fake = await startFakeTelegram();
    sb = await startTestSwitchboard(
      kind,
      { TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET, TELEGRAM_API_ROOT: fake.apiRoot, RATE_LIMIT_BURST: '1000', MAX_ATTEMPTS: '3' },
      { agents: createAgents().map((a) => (a.name === 'ask' ? ask.agent : a)) },
    );
  });
  afterAll(async () => {
    await sb?.close();
    await fake?.close();
  });

  it('a delivery that fails after the answer was stored is retried with the stored answer: the agent runs once, one message arrives', async () => {
    const chat = privateChat();
    const before = ask.runs.length;
    fake.fail('sendMessage', 500, 'Internal Server Error: restart', 1);
    expect((await send(messageUpdate('what is our deploy process?', { chat }))).status).toBe(200);
    const done = await waitFor(execution, (e) => e?.status === 'succeeded' || e?.status === 'dead', 30_000);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2 });
    // The model was asked once; the retry posted what the first attempt had stored.
    expect(ask.runs.slice(before)).toEqual([done.id]);
    expect(sendsTo(chat.id).map((c) => c.status)).toEqual([500, 200]);
    expect(fake.sent(chat.id)).toEqual([`answer #${before + 1}`]);
  });

  it('fenced code with no line break arrives whole, every piece within 4,096 characters even when sent as plain text', async () => {
    const chat = privateChat();
    // Refusing the first piece's HTML makes the sender fall back to the plain text, where the fence markers count too.
    fake.fail('sendMessage', 400, 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3', 1);
    await send(messageUpdate('UNBROKEN code please', { chat }));
    const done = await waitFor(execution, (e) => e?.args?.question?.startsWith('UNBROKEN') && (e.status === 'succeeded' || e.status === 'dead'), 30_000);
    expect(done.status).toBe('succeeded');
    const sends = sendsTo(chat.id);
    expect(sends.length).toBeGreaterThan(2);
    for (const call of sends) expect(visibleLength(call.args)).toBeLessThanOrEqual(4096);
    expect(sends.slice(1).every((c) => c.status === 200)).toBe(true);
    expect(fake.sent(chat.id).join('').replaceAll('`', '').replaceAll('\n', '')).toBe(UNBROKEN);
  });
});
