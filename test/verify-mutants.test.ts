/**
 * The four platform signature checks, edge by edge: each case here is a one-character slip in a verify.ts
 * (a `>=` for `>`, a dropped `^`, a missing length check) that the channel tests let through. Fast on purpose:
 * `npm run mutate` runs these once per mutant. Signatures are made with each platform's own signer, not ours.
 */
import { createHmac } from 'node:crypto';
import { sign as signGithub } from '@octokit/webhooks-methods';
import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import { verifyGithub } from '../channels/github/index.ts';
import { verifySlack } from '../channels/slack/index.ts';
import { SECRET_HEADER, verifyTelegram } from '../channels/telegram/verify.ts';
import { formParams, signedUrl, verifyTwilio } from '../channels/whatsapp/verify.ts';
import { VerificationError, type RawRequest } from '../src/ports.ts';
import { SIGNING_SECRET, slackSignature } from './fakes/slack-api.ts';
import { WEBHOOK_SECRET } from './fakes/telegram-api.ts';
import { AUTH_TOKEN, PUBLIC_URL } from './fakes/twilio-api.ts';

function request(body: string | Uint8Array, headers: Record<string, string>, url = 'http://127.0.0.1:3000/hook'): RawRequest {
  return { body: typeof body === 'string' ? new TextEncoder().encode(body) : body, headers: new Headers(headers), url, params: {} };
}

/** The VerificationError a check throws (any other error fails the test), or undefined when it accepts. */
async function refusal(check: () => unknown): Promise<VerificationError | undefined> {
  try {
    await check();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    return err as VerificationError;
  }
}

describe('Slack signatures', () => {
  const NOW = new Date('2025-06-01T12:00:00Z');
  const seconds = String(NOW.getTime() / 1000);
  const body = 'command=%2Fswitchboard&text=help';
  const signed = (timestamp: string, extra: Record<string, string> = {}) =>
    request(body, { 'x-slack-request-timestamp': timestamp, 'x-slack-signature': slackSignature(SIGNING_SECRET, timestamp, body), ...extra });
  const verify = (req: RawRequest, now = NOW) => refusal(() => verifySlack(req, SIGNING_SECRET, () => now));

  it('accept whole seconds of up to 15 digits, leading zeros included, and nothing else', async () => {
    expect(await verify(signed(seconds.padStart(15, '0')))).toBeUndefined();
    // Each of these is signed correctly: only the timestamp's form is wrong.
    for (const timestamp of [seconds.padStart(16, '0'), `${seconds}x`, `x${seconds}`, `${seconds}.5`, `-${seconds}`]) {
      expect((await verify(signed(timestamp)))?.code, timestamp).toBe('bad_timestamp');
    }
    expect((await verify(signed(`${seconds}x`)))?.message).toMatch(/^X-Slack-Request-Timestamp must be whole seconds since the Unix epoch/);
    // One digit is a form the check allows; 1970 is just far outside the window.
    expect((await verify(signed('5')))?.code).toBe('stale_timestamp');
  });

  it('say which way a timestamp is off, and by how much', async () => {
    const at = (offset: number) => new Date(NOW.getTime() + offset * 1000);
    expect((await verify(signed(seconds), at(400)))?.message).toMatch(/is 400 s old \(allowed ±300 s\).*NTP/);
    expect((await verify(signed(seconds), at(-400)))?.message).toMatch(/is 400 s in the future \(allowed ±300 s\)/);
    // Part of a second does not count: 300.9 s is still inside the window.
    expect(await verify(signed(seconds), new Date(NOW.getTime() + 300_900))).toBeUndefined();
  });

  it('use the real clock when none is given', async () => {
    const now = String(Math.floor(Date.now() / 1000));
    expect(await refusal(() => verifySlack(signed(now), SIGNING_SECRET))).toBeUndefined();
  });

  it('name each missing header on its own', async () => {
    const noSignature = request(body, { 'x-slack-request-timestamp': seconds });
    const error = await verify(noSignature);
    expect(error?.code).toBe('missing_signature');
    expect(error?.message).toMatch(/^missing Slack header\(s\): X-Slack-Signature; only Slack/);
    const noTimestamp = request(body, { 'x-slack-signature': slackSignature(SIGNING_SECRET, seconds, body) });
    expect((await verify(noTimestamp))?.message).toMatch(/^missing Slack header\(s\): X-Slack-Request-Timestamp; /);
    expect((await verify(request(body, {})))?.message).toMatch(/: X-Slack-Request-Timestamp, X-Slack-Signature;/);
  });

  it('refuse a signature of another length, or of another request, as a bad signature', async () => {
    for (const signature of ['v0=abc', `${slackSignature(SIGNING_SECRET, seconds, body)}0`, '']) {
      const req = signed(seconds, { 'x-slack-signature': signature });
      expect((await verify(req))?.code).toBe(signature ? 'bad_signature' : 'missing_signature');
    }
    const error = await verify(signed(seconds, { 'x-slack-signature': slackSignature('another-secret', seconds, body) }));
    expect(error?.code).toBe('bad_signature');
    expect(error?.message).toMatch(/SLACK_SIGNING_SECRET/);
    expect((await refusal(() => verifySlack(signed(seconds), '', () => NOW)))?.code).toBe('not_configured');
  });
});

describe('the Telegram secret token', () => {
  const withToken = (token: string | undefined) => request('{}', token === undefined ? {} : { [SECRET_HEADER]: token });
  const verify = (req: RawRequest, secret: string | undefined) => refusal(() => verifyTelegram(req, secret));

  it('is compared whole: a shorter, longer or empty header is refused as a bad or missing token', async () => {
    expect(await verify(withToken(WEBHOOK_SECRET), WEBHOOK_SECRET)).toBeUndefined();
    for (const token of [WEBHOOK_SECRET.slice(0, -1), `${WEBHOOK_SECRET}x`, 'x']) {
      const error = await verify(withToken(token), WEBHOOK_SECRET);
      expect(error?.code).toBe('bad_signature');
      expect(error?.message).toMatch(/does not match TELEGRAM_WEBHOOK_SECRET; run npx switchboard telegram set-webhook/);
    }
    const missing = await verify(withToken(undefined), WEBHOOK_SECRET);
    expect(missing?.code).toBe('missing_signature');
    expect(missing?.message).toMatch(/^missing X-Telegram-Bot-Api-Secret-Token; .*set-webhook/);
  });

  it('refuses everything when no secret is configured', async () => {
    for (const secret of [undefined, '']) {
      const error = await verify(withToken(''), secret);
      expect(error?.code).toBe('not_configured');
      expect(error?.message).toMatch(/TELEGRAM_WEBHOOK_SECRET is not set/);
    }
  });
});

describe('Twilio signatures', () => {
  const WEBHOOK = `${PUBLIC_URL}/whatsapp/webhook`;
  const fields = { From: 'whatsapp:+31612345678', Body: 'help' };
  const body = new URLSearchParams(fields).toString();
  const signed = (url = WEBHOOK, params: Record<string, string | string[]> = fields, form = body) =>
    request(form, { 'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, params) }, 'http://127.0.0.1:3000/whatsapp/webhook');
  const verify = (req: RawRequest, opts: { authToken?: string; publicUrl?: string } = { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL }) =>
    refusal(() => verifyTwilio(req, opts));

  it('sign the public URL without its trailing slashes, plus the query the request came with', () => {
    expect(signedUrl(`${PUBLIC_URL}//`, { url: '/whatsapp/webhook?b=2&a=1' })).toBe(`${WEBHOOK}?b=2&a=1`);
    expect(signedUrl(`${PUBLIC_URL}/sb/`, { url: 'http://127.0.0.1:3000/whatsapp/webhook' })).toBe(`${PUBLIC_URL}/sb/whatsapp/webhook`);
    expect(signedUrl('https://a.example/x//y', { url: '/' })).toBe('https://a.example/x//y/whatsapp/webhook');
  });

  it('keep every value of a field repeated three times, in order', () => {
    const params = formParams(new TextEncoder().encode('M=a&B=hi&M=b&M=c&E='));
    expect(params).toEqual({ M: ['a', 'b', 'c'], B: 'hi', E: '' });
    const form = 'M=a&M=b&M=c';
    expect(formParams(new TextEncoder().encode(form))).toEqual({ M: ['a', 'b', 'c'] });
  });

  it('refuse with a message naming the URL that was signed', async () => {
    expect(await verify(signed())).toBeUndefined();
    const error = await verify(signed('http://127.0.0.1:3000/whatsapp/webhook'));
    expect(error?.code).toBe('bad_signature');
    expect(error?.message).toMatch(/^X-Twilio-Signature does not match https:\/\/switchboard\.example\.com\/whatsapp\/webhook; check TWILIO_AUTH_TOKEN/);
    const missing = await verify(request(body, {}));
    expect(missing?.code).toBe('missing_signature');
    expect(missing?.message).toMatch(/^missing X-Twilio-Signature/);
  });

  it('refuse everything unless both the auth token and the public URL are set', async () => {
    for (const opts of [{ authToken: AUTH_TOKEN }, { publicUrl: PUBLIC_URL }, { authToken: '', publicUrl: PUBLIC_URL }, {}]) {
      const error = await verify(signed(), opts);
      expect(error?.code).toBe('not_configured');
      expect(error?.message).toMatch(/TWILIO_AUTH_TOKEN and PUBLIC_URL are needed/);
    }
  });
});

describe('GitHub signatures', () => {
  const SECRET = 'github-webhook-secret';
  const signed = async (body: string, secret = SECRET) => request(body, { 'x-hub-signature-256': await signGithub(secret, body) });
  const verify = (req: RawRequest, secret: string | undefined = SECRET) => refusal(() => verifyGithub(req, secret));

  it('accept the signed body and refuse an empty one even when it is signed', async () => {
    expect(await verify(await signed('{"zen":"ok"}'))).toBeUndefined();
    // The library refuses to sign an empty body, so sign it by hand.
    const empty = `sha256=${createHmac('sha256', SECRET).update('').digest('hex')}`;
    const error = await verify(request('', { 'x-hub-signature-256': empty }));
    expect(error?.code).toBe('bad_signature');
    expect(error?.message).toMatch(/^X-Hub-Signature-256 does not match the body; check .*GITHUB_WEBHOOK_SECRET/);
  });

  it('refuse bytes that are not UTF-8, a missing header and a missing secret, saying which', async () => {
    const notUtf8 = await verify(request(new Uint8Array([0x7b, 0xff, 0x7d]), { 'x-hub-signature-256': 'sha256=00' }));
    expect(notUtf8?.code).toBe('bad_signature');
    expect(notUtf8?.message).toMatch(/not valid UTF-8/);
    const missing = await verify(request('{}', {}));
    expect(missing?.code).toBe('missing_signature');
    expect(missing?.message).toMatch(/^missing X-Hub-Signature-256 header; .*GITHUB_WEBHOOK_SECRET/);
    const off = await verify(await signed('{}'), '');
    expect(off?.code).toBe('not_configured');
    expect(off?.message).toMatch(/GITHUB_WEBHOOK_SECRET is not set/);
  });
});
