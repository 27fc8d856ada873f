/**
 * Pairing end to end, with the real defaults (TELEGRAM_ACCESS and WHATSAPP_ACCESS unset = pairing), for what is not
 * the same on every channel: a group paired as a whole, revoking and denying, and operator input. A stranger's own
 * pairing (one code in place, nothing stored, approved, answered) is a case of the channel contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_SID, AUTH_TOKEN, inboundFields, PUBLIC_URL, startFakeTwilio, WHATSAPP_FROM, whatsappRequest, type FakeTwilio } from './fakes/twilio-api.ts';
import {
  BOB,
  BOT_TOKEN,
  BOT_USERNAME,
  messageUpdate,
  startFakeTelegram,
  telegramRequest,
  WEBHOOK_SECRET,
  type FakeTelegram,
  type Person,
} from './fakes/telegram-api.ts';
import { accessCli } from './support/access.ts';
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import { waitFor } from './support/wait.ts';

const CODE = /approve ([A-Z2-9]{4}-[A-Z2-9]{2})/;
const CAROL: Person = { id: 333_000_333, first_name: 'Carol' };
const DAVE: Person = { id: 444_000_444, first_name: 'Dave' };
const STRANGER = 'whatsapp:+447700900123';

describe.each(databaseKinds)('pairing on %s', (kind) => {
  let sb: TestSwitchboard;
  let telegram: FakeTelegram;
  let twilio: FakeTwilio;
  const tg = async (update: unknown) => {
    const res = await sb.app.request('/telegram/webhook', telegramRequest(update));
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const wa = async (from: string, text: string) => {
    const res = await sb.app.request('/whatsapp/webhook', whatsappRequest(inboundFields(text, { From: from })));
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };
  /** The CLI verb, run against this server's API. */
  const cli = (...args: string[]) => accessCli(sb)(...args);

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    twilio = await startFakeTwilio();
    sb = await startTestSwitchboard(
      kind,
      {
        TELEGRAM_BOT_TOKEN: BOT_TOKEN,
        TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_WHATSAPP_FROM: WHATSAPP_FROM,
        TWILIO_API_URL: twilio.apiUrl,
        PUBLIC_URL,
        RATE_LIMIT_BURST: '1000',
      },
      { access: 'strict' },
    );
  });
  afterAll(async () => {
    await sb?.close();
    await telegram?.close();
    await twilio?.close();
  });

  it('Telegram: a group gets one code for the whole chat; once approved through the API everyone in it is answered', async () => {
    const group = { id: -100_200_300, type: 'supergroup' as const, title: 'Ops' };
    const before = await tableCounts(sb);
    const first = await tg(messageUpdate(`@${BOT_USERNAME} hi`, { from: CAROL, chat: group }));
    const code = CODE.exec(first.body.text ?? '')?.[1];
    expect(code).toBeDefined();
    // Someone else in the same group while the chat's code is pending: no second code.
    const other = await tg(messageUpdate(`@${BOT_USERNAME} hi`, { from: DAVE, chat: group }));
    expect(JSON.stringify(other.body)).not.toMatch(CODE);
    expect(await tableCounts(sb)).toEqual(before);

    const approved = await sb.api('POST', '/api/access', { code });
    expect(approved.status).toBe(201);
    expect(approved.body).toMatchObject({ channel: 'telegram', kind: 'allow', subject: String(group.id) });

    await tg(messageUpdate(`@${BOT_USERNAME} help`, { from: DAVE, chat: group }));
    const sent = await waitFor(
      () => telegram.sent(group.id),
      (s) => s.length > 0,
    );
    expect(sent.join('\n')).toMatch(/summarize/);
  });

  it('a revoked person is a stranger again, and a deny rule refuses without an answer', async () => {
    const allowed = await sb.api('POST', '/api/access', { channel: 'whatsapp', subject: '+447700900123' });
    expect(allowed.status).toBe(201);
    expect((await wa(STRANGER, 'help')).body).not.toMatch(CODE);
    const rule = (await sb.api('GET', '/api/access')).body.rules.find((r: any) => r.channel === 'whatsapp' && r.subject === '+447700900123');
    expect((await cli('revoke', rule.id)).code).toBe(0);
    const after = await wa(STRANGER, 'still there?');
    expect(after.body).toMatch(CODE);

    expect((await cli('deny', 'telegram', String(BOB.id))).code).toBe(0);
    const before = await tableCounts(sb);
    const refused = await tg(messageUpdate('help', { from: BOB }));
    expect(refused.status).toBe(200);
    expect(refused.body).toEqual({ ok: true, refused: 'denied' });
    expect(await tableCounts(sb)).toEqual(before);
  });

  it('refuses operator input that is not an id of the channel, saying what to write', async () => {
    const bad = await sb.api('POST', '/api/access', { channel: 'whatsapp', subject: '0612345678' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/E\.164/);
    expect((await sb.api('POST', '/api/access', { code: 'ZZZZ-ZZ' })).status).toBe(404);
    expect((await sb.api('DELETE', '/api/access/not-an-id')).status).toBe(404);
  });
});
