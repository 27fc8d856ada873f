/**
 * A streamed answer on Telegram: the first text to arrive is sent as a reply at once, edited as more arrives, and
 * the final answer lands in that same message with its 👍/👎 buttons. The model is a fake Anthropic API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';
import { startFakeAnthropic, type FakeLlm } from './fakes/anthropic-api.ts';
import { BOT_TOKEN, messageUpdate, startFakeTelegram, telegramRequest, WEBHOOK_SECRET, type FakeTelegram } from './fakes/telegram-api.ts';
import { waitFor } from './support/wait.ts';

describe.each(databaseKinds)('a streamed answer on Telegram on %s', (kind) => {
  let sb: TestSwitchboard;
  let telegram: FakeTelegram;
  let anthropic: FakeLlm;
  beforeAll(async () => {
    [telegram, anthropic] = await Promise.all([startFakeTelegram(), startFakeAnthropic()]);
    sb = await startTestSwitchboard(kind, {
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      ANTHROPIC_API_KEY: 'k',
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_MODEL: 'claude-test-1',
    });
  });
  afterAll(async () => {
    await sb?.close();
    await Promise.all([telegram?.close(), anthropic?.close()]);
  });

  it('shows the first words at once as a reply, then edits that one message into the final answer', async () => {
    const chat = { id: 333_000_333, type: 'private' as const, first_name: 'Carol' };
    const release = anthropic.hold(); // the model sends one piece, then waits
    await sb.app.request('/telegram/webhook', telegramRequest(messageUpdate('tell me about the release train', { chat, messageId: 12 })));
    const [preview] = await waitFor(
      () => telegram.ok('sendMessage').filter((c) => c.args.chat_id === chat.id),
      (s) => s.length > 0,
    );
    expect(preview!.args.reply_parameters).toEqual({ message_id: 12, allow_sending_without_reply: true });
    expect(preview!.args.reply_markup).toBeUndefined();
    release();

    const edits = await waitFor(
      () => telegram.ok('editMessageText').filter((c) => c.args.chat_id === chat.id),
      (e) => e.at(-1)?.args.reply_markup !== undefined,
    );
    const final = edits.at(-1)!;
    const answer = anthropic.answers[0]!.text;
    expect(final.args.message_id).toBe((preview!.result as any).message_id);
    expect(final.visible).toBe(answer);
    expect(preview!.visible!.length).toBeLessThan(answer.length);
    expect(final.args.reply_markup.inline_keyboard[0].map((b: any) => b.text)).toEqual(['👍', '👎']);
    // One answer in the chat: the draft became it.
    expect(telegram.ok('sendMessage').filter((c) => c.args.chat_id === chat.id)).toHaveLength(1);
  });
});
