/** Replies on WhatsApp through the Twilio Messages API: 1,600-character messages, a 429 handed on as RetryLaterError. */
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { RetryLaterError, type OutboundPart, type SendLimits } from '../../src/ports.ts';
import { findingsText } from '../../src/review/index.ts';
import type { Envelope, Reply } from '../../src/types.ts';
import { bareNumber, type WhatsAppReplyRef } from './normalize.ts';

/** Characters per WhatsApp message body on Twilio. */
export const MESSAGE_CHARS = 1600;
export const TWILIO_DEFAULT_API_URL = 'https://api.twilio.com';
/** How a message without text is answered first. */
export const MEDIA_NOTICE = 'Thanks! I can only read text messages for now, so I could not open that one.';
/** WhatsApp has no buttons for us: a rating is a reply. */
export const FEEDBACK_HINT = 'Reply +1 or -1 to rate this answer.';

/** Bodies of up to 1,600 UTF-16 units. */
export const WHATSAPP_LIMITS: SendLimits = { maxLength: MESSAGE_CHARS };

/**
 * The SDK's own HTTP client, sending what it would send to https://*.twilio.com to TWILIO_API_URL instead (tests'
 * fake, or a self-hosted proxy). A 429 becomes a RetryLaterError carrying Retry-After, which the SDK's
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
      throw new RetryLaterError((Number.isFinite(header) && header > 0 ? header : 1) * 1000, 'Twilio rate-limited messages.create');
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

/** A reply as WhatsApp text before it is split: Markdown **bold** as WhatsApp's *bold*, findings and the rating hint appended. */
export function composeReply(reply: Reply, opts: { mediaOnly?: boolean } = {}): string {
  const text = reply.text.replace(/\*\*(?=\S)([^*\n]*?\S)\*\*/g, '*$1*');
  const blocks = [opts.mediaOnly ? MEDIA_NOTICE : '', text, findingsText(reply.findings), reply.feedback ? FEEDBACK_HINT : ''];
  return blocks.filter((b) => b.trim()).join('\n\n') || '(no answer)';
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
  if (err instanceof RetryLaterError || typeof e?.status !== 'number') return err;
  const hint = e.code !== undefined ? HINTS[e.code] : undefined;
  return new Error(`Twilio messages.create failed (${e.status}${e.code ? `, error ${e.code}` : ''}): ${e.message}${hint ? `; ${hint}` : ''}`, { cause: err });
}

export type SenderOptions = {
  client: Pick<twilio.Twilio, 'messages'>;
  /** TWILIO_WHATSAPP_FROM, with or without the `whatsapp:` prefix. */
  from: string;
};

/** Where a reply to `envelope` goes: the number that wrote. */
export function replyAddress(envelope: Envelope): WhatsAppReplyRef {
  const ref = envelope.replyRef as WhatsAppReplyRef | undefined;
  if (ref?.kind !== 'message' || !ref.to) throw new Error(`WhatsApp envelope ${envelope.deliveryId} has no sender to answer`);
  return ref;
}

export function createWhatsAppSender(opts: SenderOptions) {
  const from = whatsappAddress(opts.from);

  async function create(to: string, body: string) {
    try {
      await opts.client.messages.create({ from, to, body });
    } catch (err) {
      throw explain(err);
    }
  }

  /** Sends one body to the number that wrote. */
  async function send(envelope: Envelope, part: OutboundPart) {
    await create(replyAddress(envelope).to, part.text);
  }

  /** Sends one body to a number (a routing rule's destination). WhatsApp delivers it only within 24 h of their last message. */
  async function postTo(target: string, part: OutboundPart) {
    await create(whatsappAddress(target), part.text);
  }

  return { send, postTo };
}
