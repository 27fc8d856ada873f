/** Webhook-to-chat routing rules, served at /api/routes (the contract's name for them). */
import { Hono } from 'hono';
import { z } from 'zod';
import type { RuleRow } from '../../db/index.ts';
import { canonicalHookSource } from '../../src/config.ts';
import { BadRequestError, NotFoundError } from '../../src/errors.ts';
import type { ApiDeps } from './deps.ts';
import { jsonBody, parse, UUID } from './input.ts';

const ruleBody = z.object({
  source: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/i, 'must be a hook source name (letters, digits, - and _)'),
  event: z.string().min(1).max(200).nullish(),
  agent: z.string().min(1),
  destination: z.object({ channel: z.string().min(1), target: z.string().min(1).max(256) }),
});

function presentRule(r: RuleRow) {
  return { id: r.id, source: r.source, event: r.event, agent: r.agent, destination: r.destination, created_at: r.createdAt };
}

export function ruleRoutes({ store, agents, destinations }: Pick<ApiDeps, 'store' | 'agents' | 'destinations'>) {
  const api = new Hono();

  api.get('/routes', async (c) => c.json({ routes: (await store.listRules()).map(presentRule) }));
  /** Refused with 400 unless the agent exists and the destination channel is enabled and accepts the target. */
  api.post('/routes', async (c) => {
    const body = parse(ruleBody, await jsonBody(c.req));
    if (!agents.some((a) => a.name === body.agent)) {
      throw new BadRequestError('unknown_agent', `No agent named "${body.agent}"; known agents: ${agents.map((a) => a.name).join(', ')}`);
    }
    const known = destinations();
    const destination = known.find((d) => d.channel === body.destination.channel);
    if (!destination) {
      const names = known.map((d) => d.channel).join(', ') || 'none yet';
      throw new BadRequestError('invalid_destination', `Channel "${body.destination.channel}" cannot receive routed replies; destinations: ${names}`);
    }
    if (!destination.enabled) {
      throw new BadRequestError('invalid_destination', `The ${destination.channel} channel is disabled: set ${destination.requiredEnv.join(', ')} first`);
    }
    const invalid = destination.validateTarget?.(body.destination.target);
    if (invalid) throw new BadRequestError('invalid_destination', invalid);
    const row = await store.createRule({
      source: canonicalHookSource(body.source),
      event: body.event ?? null,
      agent: body.agent,
      destination: body.destination,
    });
    return c.json(presentRule(row), 201);
  });
  api.delete('/routes/:id', async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id) || !(await store.deleteRule(id))) throw new NotFoundError(`Route ${id}`);
    return c.body(null, 204);
  });

  return api;
}
