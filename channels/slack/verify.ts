/** Slack request signing (v0), checked on the raw bytes before anything parses them. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { VerificationError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';

/** Slack's replay window. Applied in both directions: Bolt's helper only rejects old timestamps, not future ones. */
export const SLACK_TOLERANCE_SECONDS = 300;

/** `v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">`: the X-Slack-Signature Slack sends. */
export function signSlack(secret: string, timestamp: string, body: Uint8Array | string): string {
  const hmac = createHmac('sha256', secret).update(`v0:${timestamp}:`);
  // Bytes as received: re-encoding a decoded string could change them, and then the signature.
  hmac.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return `v0=${hmac.digest('hex')}`;
}

/**
 * Throws `VerificationError` unless the request carries a valid Slack signature made with `secret` and an
 * `X-Slack-Request-Timestamp` within ±300 s of the injected `now()`.
 */
export function verifySlack(req: RawRequest, secret: string | undefined, now: () => Date = () => new Date()): void {
  if (!secret) {
    // The route answers 404 before this when Slack is disabled; refusing here keeps a wiring slip fail-closed.
    throw new VerificationError('not_configured', 'SLACK_SIGNING_SECRET is not set; refusing unsigned Slack requests');
  }
  const timestamp = req.headers.get('x-slack-request-timestamp');
  const signature = req.headers.get('x-slack-signature');
  if (!timestamp || !signature) {
    const missing = [!timestamp && 'X-Slack-Request-Timestamp', !signature && 'X-Slack-Signature'].filter(Boolean);
    throw new VerificationError('missing_signature', `missing Slack header(s): ${missing.join(', ')}; only Slack can call this URL`);
  }
  if (!/^\d{1,15}$/.test(timestamp)) {
    throw new VerificationError('bad_timestamp', 'X-Slack-Request-Timestamp must be whole seconds since the Unix epoch');
  }
  const skew = Math.floor(now().getTime() / 1000) - Number(timestamp);
  if (Math.abs(skew) > SLACK_TOLERANCE_SECONDS) {
    const direction = skew > 0 ? `${skew} s old` : `${-skew} s in the future`;
    throw new VerificationError(
      'stale_timestamp',
      `X-Slack-Request-Timestamp is ${direction} (allowed ±${SLACK_TOLERANCE_SECONDS} s); check this server's clock (NTP) or whether the request is a replay`,
    );
  }
  const expected = Buffer.from(signSlack(secret, timestamp, req.body));
  const candidate = Buffer.from(signature);
  if (candidate.length !== expected.length || !timingSafeEqual(candidate, expected)) {
    throw new VerificationError(
      'bad_signature',
      'X-Slack-Signature does not match the body; check SLACK_SIGNING_SECRET (Basic Information → Signing Secret in the Slack app settings)',
    );
  }
}
