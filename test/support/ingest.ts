/**
 * The real ingest step on a store, with no throttling, no backpressure and no quota: what the fast module tests
 * (receive, worker) need in front of the module they test. Only the agents and the access modes vary.
 */
import type { Store } from '../../db/index.ts';
import { type AccessPolicyOptions, createAccessPolicy } from '../../src/access/policy.ts';
import { createBackpressure } from '../../src/pipeline/backpressure.ts';
import { createIngest, type Ingest } from '../../src/pipeline/ingest.ts';
import { createRateLimiter } from '../../src/ratelimit.ts';

export function plainIngest(store: Store, agents: string[], channels: AccessPolicyOptions['channels']): Ingest {
  return createIngest({
    store,
    agentNames: new Set(agents),
    rateLimiter: createRateLimiter({ perMinute: 1000, burst: 1000 }),
    backpressure: createBackpressure({ limit: 1000, readDepth: async () => 0 }),
    traits: () => ({ throttled: false, sheddable: false, tenant: 'workspace', operator: false }),
    access: createAccessPolicy({ channels, quotaPerHour: 0, store: store.access, now: () => new Date() }),
    onEnqueued: () => {},
  });
}
