/** Who may see and do what: the role an envelope's sender holds. */
import type { IngressTraits } from '../ports.ts';
import type { Envelope } from '../types.ts';

/**
 * Whether the sender holds the `admin` role: the access policy stamps `access` at ingest, and a missing stamp
 * means `member` (least privilege). Transitional fallback: envelopes stored before the policy stamped them count
 * as admin when their channel's senders are the operator (the `operator` trait: web behind ADMIN_TOKEN, signed hooks).
 */
export function isAdmin(envelope: Pick<Envelope, 'channel' | 'access'>, traits: (channel: string) => IngressTraits): boolean {
  if (envelope.access) return envelope.access.role === 'admin';
  return traits(envelope.channel).operator;
}
