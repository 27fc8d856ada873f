/** Who may talk to the agents: the environment's settings, stored rules, pairings waiting for approval, recent changes. */
import { Hono } from 'hono';
import { z } from 'zod';
import { PAIRING_CODE, type AccessRule, type Pairing } from '../../src/access/index.ts';
import { ACCESS_MODES, accessIdProblem, type AccessChannel } from '../../src/config.ts';
import { BadRequestError, NotFoundError } from '../../src/errors.ts';
import type { ApiDeps } from './deps.ts';
import { actor, jsonBody, parse, UUID } from './input.ts';

const ACCESS_CHANNELS = Object.keys(ACCESS_MODES) as AccessChannel[];
const accessBody = z.union([
  z.object({ code: z.string().regex(PAIRING_CODE, 'must be a pairing code like 4F7K-Q2'), actor }).strict(),
  z
    .object({
      channel: z.enum(ACCESS_CHANNELS, { message: `must be one of ${ACCESS_CHANNELS.join(', ')}` }),
      subject: z.string().trim().min(1).max(200),
      kind: z.enum(['allow', 'deny', 'admin']).default('allow'),
      note: z.string().max(500).optional(),
      actor,
    })
    .strict(),
]);

function presentAccessRule(r: AccessRule) {
  return { id: r.id, channel: r.channel, kind: r.kind, subject: r.subject, note: r.note, created_by: r.createdBy, created_at: r.createdAt };
}

function presentPairing(p: Pairing) {
  return { code: p.code, channel: p.channel, subject: p.subject, scope: p.scope, user_name: p.userName, created_at: p.createdAt, expires_at: p.expiresAt };
}

export function accessRoutes({ store, access }: Pick<ApiDeps, 'store' | 'access'>) {
  const api = new Hono();

  api.get('/access', async (c) => {
    const now = new Date();
    const [rules, pending, audit] = await Promise.all([store.listAccessRules(), store.listPairings(now), store.listAccessAudit(50)]);
    return c.json({
      channels: access.channels,
      quota_per_hour: access.quotaPerHour,
      rules: rules.map(presentAccessRule),
      pending: pending.map(presentPairing),
      audit: audit.map((a) => ({ actor: a.actor, action: a.action, channel: a.channel, subject: a.subject, detail: a.detail, at: a.at })),
    });
  });
  /** `{ "code" }` approves a pairing; `{ "channel", "subject", "kind"? }` adds an allow (default), deny or admin rule. */
  api.post('/access', async (c) => {
    const body = parse(accessBody, await jsonBody(c.req));
    const by = body.actor ?? 'api';
    if ('code' in body) {
      const rule = await store.approvePairing(body.code, by, new Date());
      if (!rule) throw new NotFoundError(`Pairing code ${body.code.toUpperCase()} (it may have expired: the person gets a new code when they write again)`);
      return c.json(presentAccessRule(rule), 201);
    }
    const subject = body.channel === 'whatsapp' ? body.subject.replace(/^whatsapp:/i, '') : body.subject;
    const problem = accessIdProblem(body.channel, subject, body.kind === 'admin');
    if (problem) throw new BadRequestError('invalid_subject', problem);
    const rule = await store.addAccessRule({ channel: body.channel, kind: body.kind, subject, note: body.note, createdBy: by });
    return c.json(presentAccessRule(rule), 201);
  });
  /** Deletes a rule (by id) or refuses a pending pairing (by code). */
  api.delete('/access/:id', async (c) => {
    const id = c.req.param('id');
    const by = c.req.query('actor')?.slice(0, 100) || 'api';
    const deleted = UUID.test(id) ? await store.deleteAccessRule(id, by) : PAIRING_CODE.test(id) ? await store.rejectPairing(id, by) : false;
    if (!deleted) throw new NotFoundError(`Access rule or pairing ${id}`);
    return c.body(null, 204);
  });

  return api;
}
