/** Telegram through the channel contract every platform adapter passes. */
import { channelContract } from './support/channel-contract.ts';
import { BOT_TOKEN, messageUpdate, startFakeTelegram, telegramRequest, WEBHOOK_SECRET, type FakeTelegram } from './fakes/telegram-api.ts';

let fake: FakeTelegram | undefined;
// The contract names deliveries with strings; Telegram's update_id is a number, the same one on every redelivery.
const updateIds = new Map<string, number>();
const updateId = (id: string) => updateIds.get(id) ?? (updateIds.set(id, 900_000_000 + updateIds.size), updateIds.get(id)!);

channelContract({
  name: 'Telegram',
  route: '/telegram/webhook',
  env: (fakeUrl) => ({ TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET, TELEGRAM_API_ROOT: fakeUrl }),
  requiredEnv: ['TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET'],
  async startFake() {
    const started = await startFakeTelegram();
    fake = started;
    return { url: started.apiRoot, close: () => started.close() };
  },
  message: (id, text) => telegramRequest(messageUpdate(text, { updateId: updateId(id) })),
  tamper: (init) => ({ ...init, headers: { ...(init.headers as Record<string, string>), 'x-telegram-bot-api-secret-token': 'not-the-secret' } }),
  sent: () => fake?.sent() ?? [],
  chat: true,
});
