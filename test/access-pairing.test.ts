/**
 * Pairing end to end, with the real defaults (TELEGRAM_ACCESS and WHATSAPP_ACCESS unset = pairing): a stranger gets
 * one code in place and nothing is stored; writing again sends no new code; an admin approves (CLI verb or API); then
 * the person is answered. Telegram through its webhook's response, WhatsApp through TwiML, against the fake APIs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessCommand } from '../src/access/index.ts';
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
import { databaseKinds } from './support/databases.ts';
import { startTestSwitchboard, tableCounts, type TestSwitchboard } from './support/switchboard.ts';
import { pipelineIdle, waitFor } from './support/wait.ts';

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
  const denied = async (channel: string, reason: string) => {
    const text = await (await sb.app.request('/metrics')).text();
    return Number(new RegExp(`switchboard_access_denied_total\\{channel="${channel}",reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };
  /** The CLI verb, run against this server's API. */
  const cli = async (...args: string[]) => {
    const out: string[] = [];
    const code = await accessCommand(
      async (method, path, body) => {
        const res = await sb.api(method, path, body);
        if (res.status >= 400) throw new Error(`${res.body.error.code}: ${res.body.error.message}`);
        return { status: res.status, json: res.body };
      },
      args,
      (line) => out.push(line),
    );
    return { code, output: out.join('\n') };
  };

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

  it('Telegram: a stranger gets one code in the webhook response, nothing is stored, and after `access approve` is answered', async () => {
    const before = await tableCounts(sb);
    const first = await tg(messageUpdate('hello there', { from: BOB }));
    expect(first.status).toBe(200);
    // The answer rides on the webhook response as a Bot API call: no request of ours, nothing stored.
    expect(first.body).toMatchObject({ method: 'sendMessage', chat_id: BOB.id });
    const code = CODE.exec(first.body.text)?.[1];
    expect(code, first.body.text).toBeDefined();
    expect(first.body.text).toContain(`npx switchboard access approve ${code}`);
    expect(await tableCounts(sb)).toEqual(before);
    expect(await denied('telegram', 'pairing')).toBe(1);

    // Writing again while the code is pending: no second code, still nothing stored.
    for (const text of ['hello?', 'anyone?']) {
      const again = await tg(messageUpdate(text, { from: BOB }));
      expect(again.status).toBe(200);
      expect(JSON.stringify(again.body)).not.toMatch(CODE);
    }
    expect(await denied('telegram', 'pairing_pending')).toBe(2);
    expect(await tableCounts(sb)).toEqual(before);
    expect(telegram.sent(BOB.id)).toEqual([]);

    const listed = await cli('list');
    expect(listed.output).toContain(code);
    const approved = await cli('approve', code!.toLowerCase());
    expect(approved.code).toBe(0);
    expect(approved.output).toContain(`telegram ${BOB.id}`);
    // A code works once.
    await expect(cli('approve', code!)).rejects.toThrow(/not_found/);

    const answered = await tg(messageUpdate('help', { from: BOB }));
    expect(answered.status).toBe(200);
    expect(answered.body).toMatchObject({ ok: true });
    const sent = await waitFor(
      () => telegram.sent(BOB.id),
      (s) => s.length > 0,
    );
    expect(sent.join('\n')).toMatch(/summarize/);
    expect((await tableCounts(sb)).executions).toBe(before.executions + 1);

    // The approval is in the audit trail: who, what, when.
    const access = await sb.api('GET', '/api/access');
    expect(access.body.audit[0]).toMatchObject({ action: 'approve', channel: 'telegram', subject: String(BOB.id), actor: expect.stringMatching(/^cli/) });
    expect(access.body.pending.map((p: any) => p.code)).not.toContain(code);
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

  it('WhatsApp: a stranger gets one code as TwiML, nothing is stored, and after approval is answered', async () => {
    const before = await tableCounts(sb);
    const first = await wa(STRANGER, 'hi');
    expect(first.status).toBe(200);
    expect(first.type).toMatch(/text\/xml/);
    expect(first.body).toMatch(/<Response><Message>To talk to this bot, ask an admin to run `npx switchboard access approve [A-Z2-9-]{7}`/);
    const code = CODE.exec(first.body)?.[1];
    const again = await wa(STRANGER, 'hi again');
    expect(again.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    await pipelineIdle(sb);
    expect(await tableCounts(sb)).toEqual(before);
    expect(twilio.sent(STRANGER)).toEqual([]);
    expect(await denied('whatsapp', 'pairing')).toBe(1);

    const pending = (await sb.api('GET', '/api/access')).body.pending;
    expect(pending).toContainEqual(expect.objectContaining({ code, channel: 'whatsapp', subject: '+447700900123', scope: 'person' }));
    expect((await cli('approve', code!)).code).toBe(0);

    await wa(STRANGER, 'help');
    const sent = await waitFor(
      () => twilio.sent(STRANGER),
      (s) => s.length > 0,
    );
    expect(sent.join('\n')).toMatch(/summarize/);
  });

  it('a revoked person is a stranger again, and a deny rule refuses without an answer', async () => {
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
