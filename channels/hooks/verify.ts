/** Standard Webhooks verification for `POST /hooks/:source`, on the raw bytes before anything parses them. */
import { isUtf8 } from 'node:buffer';
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { VerificationError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';

/** The spec's window, applied in both directions: a replayed old event and a future-dated one are equally suspect. */
export const HOOK_TOLERANCE_SECONDS = 300;

/**
 * The HMAC key of each `whsec_` secret, decoded once: the library decodes it on every call and hashes in JavaScript.
 * The library's constructor still judges the secret, so one it refuses is refused here the same way.
 */
const keys = new Map<string, KeyObject>();
function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    new Webhook(secret);
    key = createSecretKey(Buffer.from(secret.slice(secret.startsWith('whsec_') ? 'whsec_'.length : 0), 'base64'));
    keys.set(secret, key);
  }
  return key;
}

/**
 * Throws `VerificationError` unless the request carries a valid Standard Webhooks signature made with `secret`
 * (`whsec_<base64>`) and a timestamp within ±300 s of `now()`.
 *
 * The library's own `verify()` checks the timestamp against `Date.now()`, which a test cannot move, so the window is
 * checked here with the injected clock, and the expected signature (HMAC-SHA256 of `id.timestamp.body`, as
 * `Webhook.sign` makes it) is computed here for the constant-time compare.
 */
export function verifyHook(req: RawRequest, secret: string | undefined, now: () => Date = () => new Date()): void {
  if (!secret) {
    // The route answers 404 before this for an unconfigured source; refusing here keeps a wiring slip fail-closed.
    throw new VerificationError('not_configured', 'no signing secret is configured for this hook source; refusing unsigned events');
  }
  const id = req.headers.get('webhook-id');
  const timestamp = req.headers.get('webhook-timestamp');
  const signatures = req.headers.get('webhook-signature');
  if (!id || !timestamp || !signatures) {
    const names = Object.entries({ 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures })
      .filter(([, value]) => !value)
      .map(([name]) => name);
    throw new VerificationError(
      'missing_signature',
      `missing Standard Webhooks header(s): ${names.join(', ')}; sign the request with the source's whsec_ secret`,
    );
  }

  if (!/^\d{1,15}$/.test(timestamp)) {
    throw new VerificationError('bad_timestamp', 'webhook-timestamp must be whole seconds since the Unix epoch');
  }
  const seconds = Number(timestamp);
  const skew = Math.floor(now().getTime() / 1000) - seconds;
  if (Math.abs(skew) > HOOK_TOLERANCE_SECONDS) {
    const direction = skew > 0 ? `${skew} s old` : `${-skew} s in the future`;
    throw new VerificationError(
      'stale_timestamp',
      `webhook-timestamp is ${direction} (allowed ±${HOOK_TOLERANCE_SECONDS} s); check the sender's clock or that it is not replaying an old event`,
    );
  }

  // The sender signed text: bytes that are not UTF-8 are refused rather than read as replacement characters. A
  // leading BOM stays, as the sender sent it; the signed bytes are then the body's bytes as they arrived.
  if (!isUtf8(req.body)) {
    throw new VerificationError('bad_signature', 'request body is not valid UTF-8, so its signature cannot match');
  }

  const expected = Buffer.from(createHmac('sha256', keyOf(secret)).update(`${id}.${seconds}.`).update(req.body).digest('base64'));
  // The header may carry several space-separated signatures (key rotation); one valid `v1` is enough.
  const matched = signatures.split(/\s+/).some((entry) => {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') return false;
    const candidate = Buffer.from(entry.slice(comma + 1));
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  });
  if (!matched) {
    throw new VerificationError(
      'bad_signature',
      "no webhook-signature matches the body; check that the sender uses this source's whsec_ secret and signs the exact raw body",
    );
  }
}
