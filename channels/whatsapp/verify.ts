/** Twilio request signing (X-Twilio-Signature), checked with the twilio package's own validator. */
import twilio from 'twilio';
import { VerificationError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';

/** The path Twilio posts to: the "A message comes in" webhook of the WhatsApp sender. */
export const WEBHOOK_PATH = '/whatsapp/webhook';

/** The form fields of a request; a repeated field keeps every value, in order, as Twilio signed them. */
export function formParams(body: Uint8Array): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(new TextDecoder().decode(body))) {
    const seen = params[key];
    params[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return params;
}

/**
 * The URL Twilio signed: PUBLIC_URL + the webhook path + the request's query string. Not the URL the request arrived
 * at: behind a proxy or tunnel that is http://127.0.0.1:3000/…, which Twilio never saw.
 */
export function signedUrl(publicUrl: string, req: Pick<RawRequest, 'url'>): string {
  return `${publicUrl.replace(/\/+$/, '')}${WEBHOOK_PATH}${new URL(req.url, 'http://localhost').search}`;
}

export type TwilioVerifyOptions = { authToken?: string; publicUrl?: string };

/** Throws `VerificationError` unless X-Twilio-Signature is Twilio's signature of the public URL and the form fields. */
export function verifyTwilio(req: RawRequest, opts: TwilioVerifyOptions): void {
  if (!opts.authToken || !opts.publicUrl) {
    // The route answers 404 before this when WhatsApp is disabled; refusing here keeps a wiring slip fail-closed.
    throw new VerificationError('not_configured', 'TWILIO_AUTH_TOKEN and PUBLIC_URL are needed to check Twilio signatures; refusing unsigned requests');
  }
  const signature = req.headers.get('x-twilio-signature');
  if (!signature) throw new VerificationError('missing_signature', 'missing X-Twilio-Signature; only Twilio can call this URL');
  const url = signedUrl(opts.publicUrl, req);
  // validateRequest compares in constant time and also tries the URL with and without an explicit port.
  if (!twilio.validateRequest(opts.authToken, signature, url, formParams(req.body))) {
    throw new VerificationError(
      'bad_signature',
      `X-Twilio-Signature does not match ${url}; check TWILIO_AUTH_TOKEN, and that PUBLIC_URL is the public address configured in Twilio (the webhook must be ${url})`,
    );
  }
}
