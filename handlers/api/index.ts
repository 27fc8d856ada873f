/** The admin API and the web channel under /api, behind the admin bearer token; one small app per resource. */
import { Hono, type MiddlewareHandler } from 'hono';
import { adminAuth, refuseUnstorableInput, requireContentType } from '../middleware.ts';
import { accessRoutes } from './access.ts';
import { agentRoutes } from './agents.ts';
import { conversationRoutes } from './conversations.ts';
import type { ApiDeps } from './deps.ts';
import { executionRoutes } from './executions.ts';
import { feedbackRoutes } from './feedback.ts';
import { messageRoutes } from './messages.ts';
import { overviewRoutes } from './overview.ts';
import { ruleRoutes } from './rules.ts';
import { usageRoutes } from './usage.ts';

export type { ApiDeps } from './deps.ts';

export function apiRoutes(deps: ApiDeps) {
  const api = new Hono();
  api.use('*', adminAuth(deps.checkAdminToken));
  // A body must be JSON; a bodyless POST (replay) has no media type to check.
  const json = requireContentType('application/json');
  const jsonIfBody: MiddlewareHandler = async function jsonIfBody(c, next) {
    const empty = c.req.header('content-length') === '0' || (!c.req.header('content-length') && !c.req.header('transfer-encoding'));
    return empty && !c.req.header('content-type') ? next() : json(c, next);
  };
  api.post('/*', jsonIfBody);
  api.patch('/*', json);
  api.use('*', refuseUnstorableInput());

  // Mounted at the root, each keeps its full paths, so metrics label every request by the same pattern as before.
  for (const resource of [
    messageRoutes(deps),
    executionRoutes(deps),
    agentRoutes(deps),
    accessRoutes(deps),
    conversationRoutes(deps),
    ruleRoutes(deps),
    feedbackRoutes(deps),
    usageRoutes(deps),
    overviewRoutes(deps),
  ]) {
    api.route('/', resource);
  }
  return api;
}
