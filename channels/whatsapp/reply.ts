/** Replies on WhatsApp through the Twilio Messages API: 1,600-character messages, 429s waited out within a budget. */
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { findingsText } from '../../src/review/index.ts';
import { splitMessage } from '../../src/split.ts';
import type { Envelope, Reply } from '../../src/types.ts';
import { bareNumber, type WhatsAppReplyRef } from './normalize.ts';

/** Characters per WhatsApp message body on Twilio. */
export const MESSAGE_CHARS = 1600;
export const TWILIO_DEFAULT_API_URL = 'https://api.twilio.com';
/** How a message without text is answered first. */
export const MEDIA_NOTICE = 'Thanks! I can only read text messages for now, so I could not open that one.';
/** WhatsApp has no buttons for us: a rating is a reply. */
export const FEEDBACK_HINT = 'Reply +1 or -1 to rate this answer.';

/** Twilio answered 429 for longer than one reply may wait: the error carries Retry-After so the retry comes later. */
export class TwilioRateLimitedError extends Error {
  readonly code = 'twilio_rate_limited';
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, what = 'messages.create') {
    super(`Twilio rate-limited ${what}: retry after ${retryAfterSeconds} s`);
    this.name = 'TwilioRateLimitedError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The SDK's own HTTP client, sending what it would send to https://*.twilio.com to TWILIO_API_URL instead (tests'
 * fake, or a self-hosted proxy). A 429 becomes a TwilioRateLimitedError carrying Retry-After, which the SDK's
 * RestException would drop.
 */
export class RedirectingRequestClient extends twilio.RequestClient {
  readonly apiUrl: string;
  constructor(apiUrl: string, opts: { timeoutMs?: number } = {}) {
    // The queue retries failed replies; the SDK must not retry on its own.
    super({ timeout: opts.timeoutMs ?? 30_000, autoRetry: false });
    this.apiUrl = apiUrl.replace(/\/+$/, '');
  }

  /** `https://api.twilio.com/2010-04-01/…` → `<TWILIO_API_URL>/2010-04-01/…`; other URLs stay as they are. */
  redirect(uri: string): string {
    if (this.apiUrl === TWILIO_DEFAULT_API_URL) return uri;
    const url = new URL(uri);
    return url.hostname === 'twilio.com' || url.hostname.endsWith('.twilio.com') ? `${this.apiUrl}${url.pathname}${url.search}` : uri;
  }

  override async request<T>(opts: RequestClient.RequestOptions<T>) {
    const response = await super.request<T>({ ...opts, uri: this.redirect(opts.uri) });
    if (response.statusCode === 429) {
      const header = Number((response.headers as Record<string, string | undefined> | undefined)?.['retry-after']);
      throw new TwilioRateLimitedError(Number.isFinite(header) && header > 0 ? header : 1);
    }
    return response;
  }
}

export type TwilioClientConfig = { accountSid?: string; authToken?: string; apiUrl: string };

export function createTwilioClient(config: TwilioClientConfig): twilio.Twilio {
  if (!config.accountSid || !config.authToken) throw new Error('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to send WhatsApp messages');
  return twilio(config.accountSid, config.authToken, { httpClient: new RedirectingRequestClient(config.apiUrl), autoRetry: false });
}

/** `+31612345678` or `whatsapp:+31612345678` → `whatsapp:+31612345678`. */
export function whatsappAddress(number: string): string {
  const bare = bareNumber(number.trim()).replace(/[\s()-]/g, '');
  if (!/^\+[1-9]\d{6,14}$/.test(bare)) throw new Error(`"${number}" is not a WhatsApp number: use the international format, e.g. +31612345678`);
  return `whatsapp:${bare}`;
}

/** Splits text into WhatsApp bodies of at most `limit` UTF-16 units, never inside a word that fits or an emoji. */
export function splitText(text: string, limit = MESSAGE_CHARS): string[] {
  return splitMessage(text, { limit });
}

/** A reply as WhatsApp bodies: Markdown **bold** as WhatsApp's *bold*, findings and the rating hint appended. */
export function replyBodies(reply: Reply, opts: { mediaOnly?: boolean } = {}): string[] {
  const text = reply.text.replace(/\*\*(?=\S)([^*\n]*?\S)\*\*/g, '*$1*');
  const blocks = [opts.mediaOnly ? MEDIA_NOTICE : '', text, findingsText(reply.findings), reply.feedback ? FEEDBACK_HINT : ''];
  return splitText(blocks.filter((b) => b.trim()).join('\n\n') || '(no answer)');
}

// Errors an operator can fix, by Twilio error code, and how.
const HINTS: Record<number, string> = {
  20003: 'check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (Twilio Console → Account info)',
  21211: 'the recipient is not a valid phone number',
  21606: 'TWILIO_WHATSAPP_FROM is not a WhatsApp sender of this account (sandbox: whatsapp:+14155238886)',
  63007: 'TWILIO_WHATSAPP_FROM is not a WhatsApp sender of this account (sandbox: whatsapp:+14155238886)',
  63016: 'the recipient has not written in the last 24 hours; WhatsApp only allows template messages then',
};

function explain(err: unknown): unknown {
  const e = err as { status?: number; code?: number; message?: string };
  if (err instanceof TwilioRateLimitedError || typeof e?.status !== 'number') return err;
  const hint = e.code !== undefined ? HINTS[e.code] : undefined;
  return new Error(`Twilio messages.create failed (${e.status}${e.code ? `, error ${e.code}` : ''}): ${e.message}${hint ? `; ${hint}` : ''}`, { cause: err });
}

export type SenderOptions = {
  client: Pick<twilio.Twilio, 'messages'>;
  /** TWILIO_WHATSAPP_FROM, with or without the `whatsapp:` prefix. */
  from: string;
  /** Seconds one reply may spend waiting out 429s; past that the error carries Retry-After to the queue. */
  maxWaitSeconds?: number;
  sleep?(ms: number): Promise<void>;
};

export function createWhatsAppSender(opts: SenderOptions) {
  const from = whatsappAddress(opts.from);
  const maxWait = opts.maxWaitSeconds ?? 30;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  // Bodies already sent per execution: a retried reply resumes after them instead of sending them again.
  const progress = new Map<string, number>();

  async function create(budget: { waited: number }, to: string, body: string) {
    for (;;) {
      try {
        return await opts.client.messages.create({ from, to, body });
      } catch (err) {
        if (!(err instanceof TwilioRateLimitedError)) throw explain(err);
        if (budget.waited + err.retryAfterSeconds > maxWait) throw err;
        budget.waited += err.retryAfterSeconds;
        await sleep(err.retryAfterSeconds * 1000);
      }
    }
  }

  async function sendAll(key: string, to: string, bodies: string[]) {
    const budget = { waited: 0 };
    for (let i = progress.get(key) ?? 0; i < bodies.length; i++) {
      await create(budget, to, bodies[i]!);
      progress.set(key, i + 1);
      if (progress.size > 1000) progress.delete(progress.keys().next().value!);
    }
    progress.delete(key);
  }

  async function reply(envelope: Envelope, reply: Reply, meta: { executionId: string }) {
    const ref = envelope.replyRef as WhatsAppReplyRef | undefined;
    if (ref?.kind !== 'message' || !ref.to) throw new Error(`WhatsApp envelope ${envelope.deliveryId} has no sender to answer`);
    await sendAll(meta.executionId, ref.to, replyBodies(reply, { mediaOnly: ref.mediaOnly }));
  }

  /** Sends to a number (a routing rule's destination). WhatsApp delivers it only within 24 h of their last message. */
  async function postTo(target: string, reply: Reply, meta: { executionId: string }) {
    const to = whatsappAddress(target);
    await sendAll(`post:${meta.executionId}:${to}`, to, replyBodies(reply));
  }

  return { reply, postTo };
}
