/** GitHub webhook verification: `X-Hub-Signature-256` over the raw body, before anything parses it. */
import { verify } from '@octokit/webhooks-methods';
import { VerificationError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';

// `fatal` so bytes that are not UTF-8 are refused rather than replaced: GitHub signed the bytes it sent.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Throws `VerificationError` unless the request carries `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
 * made with `secret`. The library compares in constant time.
 */
export async function verifyGithub(req: RawRequest, secret: string | undefined): Promise<void> {
  if (!secret) {
    // The route answers 404 before this when the channel is disabled; refusing here keeps a wiring slip fail-closed.
    throw new VerificationError('not_configured', 'GITHUB_WEBHOOK_SECRET is not set; refusing unsigned GitHub events');
  }
  const signature = req.headers.get('x-hub-signature-256');
  if (!signature) {
    throw new VerificationError(
      'missing_signature',
      'missing X-Hub-Signature-256 header; set the webhook secret in the GitHub App or repository webhook settings to GITHUB_WEBHOOK_SECRET',
    );
  }
  let body: string;
  try {
    body = utf8.decode(req.body);
  } catch {
    throw new VerificationError('bad_signature', 'request body is not valid UTF-8, so its signature cannot match');
  }
  if (body === '' || !(await verify(secret, body, signature))) {
    throw new VerificationError(
      'bad_signature',
      'X-Hub-Signature-256 does not match the body; check that the webhook secret on GitHub equals GITHUB_WEBHOOK_SECRET and the content type is application/json',
    );
  }
}
