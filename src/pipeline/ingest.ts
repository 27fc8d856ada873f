/** Ingest: rate-limit, route, and store each envelope with its job in one transaction. */
import type { IngestResult, Store } from '../../db/index.ts';
import { BadRequestError, RateLimitedError } from '../errors.ts';
import type { RateLimiter } from '../ratelimit.ts';
import { route } from '../router.ts';
import type { Envelope, Intent, IntentName } from '../types.ts';

export type Ingest = (envelopes: Envelope[]) => Promise<IngestResult[]>;

/** The intent an envelope asks for: the agent a payload names wins over what its text says. */
export function routeEnvelope(envelope: Envelope, agentNames: ReadonlySet<string>): { agent: string; intent: Intent } {
  if (envelope.agent !== undefined) {
    if (!agentNames.has(envelope.agent)) {
      throw new BadRequestError('unknown_agent', `No agent named "${envelope.agent}"; known agents: ${[...agentNames].join(', ')}`);
    }
    const routed = route(envelope.text);
    const args = routed.name === envelope.agent ? routed.args : { question: envelope.text, text: envelope.text };
    return { agent: envelope.agent, intent: { name: envelope.agent as IntentName, args: { ...args, ...envelope.args } } };
  }
  const intent = route(envelope.text);
  return { agent: intent.name, intent: { name: intent.name, args: { ...intent.args, ...envelope.args } } };
}

export function createIngest(deps: {
  store: Store;
  agentNames: ReadonlySet<string>;
  rateLimiter: RateLimiter;
  /** Called after commit, so an in-process worker starts now instead of at its next poll. */
  onEnqueued(): void;
}): Ingest {
  return async function ingest(envelopes) {
    // Route and rate-limit everything first: a rejected request stores nothing.
    const routed = envelopes.map((e) => routeEnvelope(e, deps.agentNames));
    for (const e of envelopes) {
      const verdict = deps.rateLimiter.take(`${e.channel}:${e.tenantId}:${e.userId}`);
      if (!verdict.ok) throw new RateLimitedError(verdict.retryAfterSeconds);
    }
    const results: IngestResult[] = [];
    for (const [i, envelope] of envelopes.entries()) results.push(await deps.store.ingest(envelope, routed[i]!));
    if (results.some((r) => !r.duplicate)) deps.onEnqueued();
    return results;
  };
}
