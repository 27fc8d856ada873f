/** Ingest: classify, apply routing rules, rate-limit, check access, and store each envelope with its jobs in one transaction. */
import type { Assignment, IngestResult, Store } from '../../db/index.ts';
import { isRefusal, quotaAnswer, type AccessPolicy, type Refusal } from '../access/index.ts';
import { BadRequestError, RateLimitedError } from '../errors.ts';
import type { RateLimiter } from '../ratelimit.ts';
import { sanitizeEnvelope } from '../sanitize.ts';
import type { IngressTraits } from '../ports.ts';
import type { Backpressure } from './backpressure.ts';
import { classify } from '../classify.ts';
import type { Envelope, IntentName } from '../types.ts';

/** One outcome per envelope, in order: stored (or a duplicate), or refused by the access policy with nothing stored. */
export type Ingest = (envelopes: Envelope[]) => Promise<(IngestResult | Refusal)[]>;

/** The intent for `agent` (or, when none is named, the one the text asks for). */
function assign(envelope: Envelope, agentNames: ReadonlySet<string>, agent = envelope.agent): Assignment {
  if (agent !== undefined) {
    if (!agentNames.has(agent)) {
      throw new BadRequestError('unknown_agent', `No agent named "${agent}"; known agents: ${[...agentNames].join(', ')}`);
    }
    const asked = classify(envelope.text);
    const args = asked.name === agent ? asked.args : { question: envelope.text, text: envelope.text };
    return { agent, intent: { name: agent as IntentName, args: { ...args, ...envelope.args } } };
  }
  const intent = classify(envelope.text);
  return { agent: intent.name, intent: { name: intent.name, args: { ...intent.args, ...envelope.args } } };
}

export function createIngest(deps: {
  store: Store;
  agentNames: ReadonlySet<string>;
  rateLimiter: RateLimiter;
  backpressure: Backpressure;
  /** How a channel's events are treated on the way in (throttled per person, shed under load). */
  traits(channel: string): IngressTraits;
  access: AccessPolicy;
  /** Told of every refusal (metrics, log). */
  onRefused?(envelope: Envelope, refusal: Refusal): void;
  now?: () => Date;
  /** Called after commit, so an in-process worker starts now instead of at its next poll. */
  onEnqueued(): void;
}): Ingest {
  /** Routing rules turn one event into one execution per matching rule; without a match it is answered in place. */
  async function targets(envelope: Envelope): Promise<Assignment[]> {
    const rules = envelope.event ? await deps.store.matchRules(envelope.event.source, envelope.event.type) : [];
    if (!rules.length) return [assign(envelope, deps.agentNames)];
    return rules.map((rule) => ({
      ...assign(envelope, deps.agentNames, rule.agent),
      destination: rule.destination as Assignment['destination'],
      ruleId: rule.id,
    }));
  }

  return async function ingest(input) {
    // Platforms retry whatever they do not see accepted, so text the database cannot hold is repaired, not refused.
    const envelopes = input.map(sanitizeEnvelope);
    // Classify and rate-limit everything first: a rejected request stores nothing.
    const assigned = await Promise.all(envelopes.map(targets));
    for (const e of envelopes) if (deps.traits(e.channel).sheddable) await deps.backpressure.admit();
    for (const e of envelopes) {
      // The per-user limit protects chats from one noisy person. Signed system webhooks are not people and
      // must not be throttled into retry storms, and a platform that never redelivers would lose the event to a
      // 429 (queue depth is watched instead): their channels are not `throttled`.
      if (!deps.traits(e.channel).throttled) continue;
      const verdict = deps.rateLimiter.take(`${e.channel}:${e.tenantId}:${e.userId}`);
      if (!verdict.ok) throw new RateLimitedError(verdict.retryAfterSeconds);
    }
    const results: (IngestResult | Refusal)[] = [];
    const refuse = (envelope: Envelope, refusal: Refusal) => {
      deps.onRefused?.(envelope, refusal);
      results.push(refusal);
    };
    for (const [i, envelope] of envelopes.entries()) {
      const targets = assigned[i]!;
      const decision = await deps.access.check(
        envelope,
        targets.map((t) => t.agent),
      );
      if (isRefusal(decision)) {
        refuse(envelope, decision);
        continue;
      }
      // The role goes with the stored envelope, so the worker knows what the asker may see.
      const admitted: Envelope = { ...envelope, access: { role: decision.role } };
      const result = await deps.store.ingest(admitted, targets, deps.access.quota(admitted));
      if ('overQuota' in result) {
        refuse(envelope, { refused: 'quota', answer: quotaAnswer(result.overQuota.limit, result.overQuota.resetAt, deps.now?.() ?? new Date()) });
        continue;
      }
      results.push(result);
    }
    if (results.some((r) => !isRefusal(r) && !r.duplicate)) deps.onEnqueued();
    return results;
  };
}
