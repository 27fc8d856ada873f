/** Who may see and do what: the role an envelope's sender holds. */
import type { Envelope } from '../types.ts';

/**
 * Whether the sender holds the `admin` role: the access policy stamps `access` at ingest, and a missing stamp
 * means `member` (least privilege). Transitional fallback: envelopes stored before the policy stamped them, from
 * the web channel (behind ADMIN_TOKEN) or a signed hook, count as admin, as those senders are the operator.
 */
export function isAdmin(envelope: Pick<Envelope, 'channel' | 'access'>): boolean {
  if (envelope.access) return envelope.access.role === 'admin';
  return envelope.channel === 'web' || envelope.channel === 'hooks';
}
