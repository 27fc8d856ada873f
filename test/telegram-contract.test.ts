/** Telegram through the channel contract every platform adapter passes. */
import { expect } from 'vitest';
import { channelContract } from './support/channel-contract.ts';
import { BOT_TOKEN, messageUpdate, startFakeTelegram, telegramRequest, WEBHOOK_SECRET, type FakeTelegram, type Person } from './fakes/telegram-api.ts';

let fake: FakeTelegram | undefined;
// The contract names deliveries and people with strings; Telegram's update_id and user ids are numbers, the same
// update_id on every redelivery.
const numbers = new Map<string, number>();
const numberOf = (key: string, base: number) => numbers.get(key) ?? (numbers.set(key, base + numbers.size), numbers.get(key)!);
const person = (user: string | undefined): Person | undefined => (user ? { id: numberOf(`user:${user}`, 333_000_000), first_name: user } : undefined);
const update = (id: string, text: string, user?: string) => {
  const from = person(user);
  return messageUpdate(text, { updateId: numberOf(`update:${id}`, 900_000_000), ...(from ? { from } : {}) });
};

channelContract({
  name: 'Telegram',
  channel: 'telegram',
  route: '/telegram/webhook',
  env: (fakeUrl) => ({ TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET, TELEGRAM_API_ROOT: fakeUrl }),
  requiredEnv: ['TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET'],
  async startFake() {
    const started = await startFakeTelegram();
    fake = started;
    return { url: started.apiRoot, close: () => started.close() };
  },
  // A private chat: `user` is the person and so the chat.
  message: (id, text, user) => telegramRequest(update(id, text, user)),
  async acked(res, duplicate) {
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, duplicate });
  },
  // Wrong, missing, empty, longer and shorter secrets: the compare is constant-time whatever the length.
  forgeries: (id, text) =>
    ['wrong-secret', null, '', `${WEBHOOK_SECRET}x`, WEBHOOK_SECRET.slice(0, -1)].map((secret) => ({ request: telegramRequest(update(id, text), { secret }) })),
  sent: () => fake?.sent() ?? [],
  calls: () => fake?.calls.length ?? 0,
  destination: {
    target: '-100999000001',
    // A routed post answers no message of the conversation.
    sentTo: (target) =>
      (fake?.ok('sendMessage') ?? []).filter((c) => String(c.args.chat_id) === target && c.args.reply_parameters === undefined).map((c) => c.visible ?? ''),
  },
  rateLimits: {
    next: (seconds) => fake!.rateLimit('sendMessage', seconds),
    attempts: () => (fake?.calls ?? []).filter((c) => c.method === 'sendMessage').map(({ status, at }) => ({ status, at })),
  },
  userId: (user) => String(person(user)!.id),
  messageLimit: 4096,
  // The refusal rides on the webhook's response as a Bot API call to the person's chat.
  pairing: {
    async code(res) {
      const body = (await res.json()) as { method?: string; text?: string };
      const code = /approve ([A-Z2-9]{4}-[A-Z2-9]{2})/.exec(body.text ?? '')?.[1];
      if (code) expect(body).toMatchObject({ method: 'sendMessage', text: expect.stringContaining(`npx switchboard access approve ${code}`) });
      return code;
    },
    subject: (user) => String(person(user)!.id),
  },
  chat: true,
  conversation: true,
});
