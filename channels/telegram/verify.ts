/** Telegram webhook authentication: the secret token set with setWebhook, echoed in a header on every update. */
import { timingSafeEqual } from 'node:crypto';
import { VerificationError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';

export const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/** What Telegram accepts as `secret_token`: 1–256 of A–Z, a–z, 0–9, `_` and `-`. */
export const SECRET_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * Throws `VerificationError` unless `X-Telegram-Bot-Api-Secret-Token` equals `secret`. Compared in constant time:
 * the header is the only thing that tells Telegram's POSTs from anyone else's. Checked before the body is parsed.
 */
export function verifyTelegram(req: RawRequest, secret: string | undefined): void {
  if (!secret) {
    // The route answers 404 before this when Telegram is disabled; refusing here keeps a wiring slip fail-closed.
    throw new VerificationError('not_configured', 'TELEGRAM_WEBHOOK_SECRET is not set; refusing unauthenticated Telegram updates');
  }
  const header = req.headers.get(SECRET_HEADER);
  if (!header) {
    throw new VerificationError(
      'missing_signature',
      'missing X-Telegram-Bot-Api-Secret-Token; register the webhook with its secret: npx switchboard telegram set-webhook',
    );
  }
  const expected = Buffer.from(secret);
  const candidate = Buffer.from(header);
  if (candidate.length !== expected.length || !timingSafeEqual(candidate, expected)) {
    throw new VerificationError(
      'bad_signature',
      'X-Telegram-Bot-Api-Secret-Token does not match TELEGRAM_WEBHOOK_SECRET; run npx switchboard telegram set-webhook after changing the secret',
    );
  }
}
