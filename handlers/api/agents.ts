/** The agent registry: which agents exist, whether each is on, and who may run it. */
import { Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError } from '../../src/errors.ts';
import type { ApiDeps } from './deps.ts';
import { actor, jsonBody, parse } from './input.ts';

const agentChange = z
  .object({ enabled: z.boolean().optional(), required_role: z.enum(['admin', 'member']).optional(), actor })
  .strict()
  .refine((b) => b.enabled !== undefined || b.required_role !== undefined, 'give enabled or required_role');

export function agentRoutes({ store, agents }: Pick<ApiDeps, 'store' | 'agents'>) {
  const api = new Hono();

  api.get('/agents', async (c) => {
    const rows = new Map((await store.listAgents()).map((r) => [r.name, r]));
    return c.json({
      agents: agents.map((a) => ({
        name: a.name,
        description: a.description,
        enabled: rows.get(a.name)?.enabled ?? false,
        required_role: rows.get(a.name)?.requiredRole ?? 'member',
      })),
    });
  });
  /** `{ "enabled": bool }` switches an agent on or off; `{ "required_role": "admin" | "member" }` sets who may run it. */
  api.patch('/agents/:name', async (c) => {
    const body = parse(agentChange, await jsonBody(c.req));
    const name = c.req.param('name');
    const agent = agents.find((a) => a.name === name);
    if (!agent) throw new NotFoundError(`Agent ${name}`);
    let row = body.enabled !== undefined ? await store.setAgentEnabled(name, body.enabled) : undefined;
    if (body.required_role) row = await store.setRequiredRole(name, body.required_role, body.actor ?? 'api');
    row ??= (await store.listAgents()).find((r) => r.name === name);
    if (!row) throw new NotFoundError(`Agent ${name}`);
    return c.json({ name, description: agent.description, enabled: row.enabled, required_role: row.requiredRole });
  });

  return api;
}
