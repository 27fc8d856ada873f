/**
 * Twilio for tests, both directions: a fake Messages API (and the account, as `accounts(sid).fetch()` reads it) on 127.0.0.1:<random port> that the real twilio client
 * reaches through TWILIO_API_URL (checking Basic auth, the sender and the 1,600-character limit; answering 429 or
 * errors on demand), and inbound WhatsApp webhooks signed with twilio's own getExpectedTwilioSignature.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import twilio from 'twilio';

export const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
export const AUTH_TOKEN = 'f00dfeedc0ffee0123456789abcdef01';
export const WHATSAPP_FROM = 'whatsapp:+14155238886';
export const PUBLIC_URL = 'https://switchboard.example.com';
export const WEBHOOK_URL = `${PUBLIC_URL}/whatsapp/webhook`;
export const CUSTOMER = 'whatsapp:+31612345678';

export type TwilioMessage = { to: string; from: string; body: string; sid?: string; status: number; at: number; error?: { code: number; message: string } };

export type FakeTwilio = {
  /** What TWILIO_API_URL is set to. */
  apiUrl: string;
  /** Every messages.create, including refused ones (status tells). */
  messages: TwilioMessage[];
  /** Bodies delivered to `to` (everyone when omitted), in order. */
  sent(to?: string): string[];
  /** Lets `after` creates through, then answers the next `times` with 429 (with Retry-After when given). */
  rateLimit(times?: number, retryAfterSeconds?: number, after?: number): void;
  /** Answers the next `times` creates with this Twilio error. */
  fail(status: number, code: number, message: string, times?: number): void;
  close(): Promise<void>;
};

async function readForm(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

export async function startFakeTwilio(): Promise<FakeTwilio> {
  const messages: TwilioMessage[] = [];
  let limit = { times: 0, retryAfter: undefined as number | undefined, after: 0 };
  let failure = { times: 0, status: 0, code: 0, message: '' };

  const server = createServer(async (req, res) => {
    const form = await readForm(req);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, code: number, message: string, headers: Record<string, string> = {}) => {
      messages.push({ to: form.To ?? '', from: form.From ?? '', body: form.Body ?? '', status, at: Date.now(), error: { code, message } });
      send(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, headers);
    };
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const expected = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;
    const account = /^\/2010-04-01\/Accounts\/([^/]+)\.json$/.exec(path);
    if (req.method === 'GET' && account) {
      // What `api.v2010.accounts(sid).fetch()` asks (doctor): the account, to its own credentials only.
      if (req.headers.authorization !== expected || account[1] !== ACCOUNT_SID)
        return send(401, { code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
      return send(200, {
        sid: ACCOUNT_SID,
        friendly_name: 'Switchboard test account',
        status: 'active',
        type: 'Full',
        auth_token: AUTH_TOKEN,
        uri: `/2010-04-01/Accounts/${ACCOUNT_SID}.json`,
      });
    }
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    if (req.method !== 'POST' || !match) return send(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    if (req.headers.authorization !== expected || match[1] !== ACCOUNT_SID) return error(401, 20003, 'Authenticate');
    if (limit.after > 0) limit.after--;
    else if (limit.times > 0) {
      limit.times--;
      return error(429, 20429, 'Too Many Requests', limit.retryAfter ? { 'retry-after': String(limit.retryAfter) } : {});
    }
    if (failure.times > 0) {
      failure.times--;
      return error(failure.status, failure.code, failure.message);
    }
    if (!/^whatsapp:\+\d{7,15}$/.test(form.To ?? '')) return error(400, 21211, `The 'To' number ${form.To} is not a valid phone number.`);
    if (form.From !== WHATSAPP_FROM) return error(400, 63007, `Twilio could not find a Channel with the specified From address: ${form.From}`);
    if (!form.Body) return error(400, 21602, 'Message body is required.');
    if (form.Body.length > 1600) return error(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    const sid = `SM${randomBytes(16).toString('hex')}`;
    messages.push({ to: form.To!, from: form.From, body: form.Body, sid, status: 201, at: Date.now() });
    send(201, {
      sid,
      account_sid: ACCOUNT_SID,
      to: form.To,
      from: form.From,
      body: form.Body,
      status: 'queued',
      num_segments: '1',
      num_media: '0',
      direction: 'outbound-api',
      api_version: '2010-04-01',
      date_created: new Date().toUTCString(),
      uri: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${sid}.json`,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    apiUrl: `http://127.0.0.1:${port}`,
    messages,
    sent: (to) => messages.filter((m) => m.status === 201 && (to === undefined || m.to === to)).map((m) => m.body),
    rateLimit(times = 1, retryAfterSeconds, after = 0) {
      limit = { times, retryAfter: retryAfterSeconds, after };
    },
    fail(status, code, message, times = 1) {
      failure = { times, status, code, message };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let sidSeq = 0;
export const messageSid = () => `SM${String(++sidSeq).padStart(8, '0')}${randomBytes(12).toString('hex')}`;

/** The fields Twilio posts for an inbound WhatsApp message. */
export function inboundFields(body: string, overrides: Record<string, string> = {}): Record<string, string> {
  const sid = overrides.MessageSid ?? messageSid();
  const from = overrides.From ?? CUSTOMER;
  return {
    SmsMessageSid: sid,
    NumMedia: '0',
    ProfileName: 'Alice',
    MessageType: 'text',
    SmsSid: sid,
    WaId: from.replace(/^whatsapp:\+/, ''),
    SmsStatus: 'received',
    Body: body,
    To: WHATSAPP_FROM,
    NumSegments: '1',
    ReferralNumMedia: '0',
    MessageSid: sid,
    AccountSid: ACCOUNT_SID,
    From: from,
    ApiVersion: '2010-04-01',
    ...overrides,
  };
}

/** A POST to /whatsapp/webhook as Twilio makes it: form-encoded, signed over `url` (the public webhook URL) and the fields. */
export function whatsappRequest(fields: Record<string, string>, opts: { authToken?: string; url?: string } = {}): RequestInit {
  const signature = twilio.getExpectedTwilioSignature(opts.authToken ?? AUTH_TOKEN, opts.url ?? WEBHOOK_URL, fields);
  return {
    method: 'POST',
    body: new URLSearchParams(fields).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': signature,
      'i-twilio-idempotency-token': randomBytes(8).toString('hex'),
    },
  };
}
