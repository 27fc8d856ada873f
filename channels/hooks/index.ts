/** The `hooks` channel: any system that signs its webhooks per Standard Webhooks, at `POST /hooks/:source`. */
import { canonicalHookSource, hookSecretEnvName } from '../../src/config.ts';
import { NormalizeError, VerificationError } from '../../src/ports.ts';
import type { ChannelAdapter, Enablement, RawRequest } from '../../src/ports.ts';
import { normalizeHook } from './normalize.ts';
import { verifyHook } from './verify.ts';

export { normalizeHook, renderHookEvent } from './normalize.ts';
export { HOOK_TOLERANCE_SECONDS, verifyHook } from './verify.ts';

// A source becomes part of an env name and a tenant id, so it is kept to characters both can carry.
const SOURCE = /^[a-z0-9][a-z0-9_-]{0,63}$/i;

/** Whether `source` can name a hook source at all; anything else is answered 404 like an unknown route. */
export function isValidHookSource(source: string): boolean {
  return SOURCE.test(source);
}

export type HooksAdapterOptions = {
  /** The `whsec_` secret for a source, or undefined when that source is not configured. */
  secretFor(source: string): string | undefined;
  now?: () => Date;
};

/** `/hooks/<source>` accepts events for a valid name with a configured secret; the 404 names the variable that enables it. */
function sourceEnablement(source: string, secretFor: HooksAdapterOptions['secretFor']): Enablement {
  if (!isValidHookSource(source)) return { enabled: false, requiredEnv: ['a source name of letters, digits, - and _'] };
  return { enabled: Boolean(secretFor(source)), requiredEnv: [hookSecretEnvName(source)] };
}

/**
 * The source comes from the route (`/hooks/:source`) because the port hands adapters only the request. It is
 * canonicalized because `/hooks/My_App` and `/hooks/my-app` share one secret, so they are one source.
 */
function sourceOf(req: RawRequest, fail: (message: string) => Error): string {
  const source = req.params.source ?? '';
  if (!isValidHookSource(source)) throw fail(`unknown hook source ${JSON.stringify(source)}`);
  return canonicalHookSource(source);
}

/**
 * No `send`: the pipeline stores the reply on the execution, where the API and dashboard read it; routing rules
 * (`/api/routes`) take hook results to a chat.
 */
export function createHooksAdapter(opts: HooksAdapterOptions): ChannelAdapter {
  const now = opts.now ?? (() => new Date());
  return {
    channel: 'hooks',
    path: '/hooks/:source',
    accepts: ['application/json'],
    // Signed systems, not people: never throttled per person (a 429 starts a retry storm); shed first under load.
    // Their senders are the operator.
    traits: { throttled: false, sheddable: true, tenant: 'webhook source', operator: true },
    // Enabled per source, not as a whole: the route asks `enabledFor`, whose 404 names the variable for that source.
    enabled: true,
    requiredEnv: ['HOOK_SECRET_<SOURCE>'],
    enabledFor: (params) => sourceEnablement(params.source ?? '', opts.secretFor),
    verify(req) {
      const source = sourceOf(req, (message) => new VerificationError('unknown_source', message));
      verifyHook(req, opts.secretFor(source), now);
    },
    normalize(req) {
      const source = sourceOf(req, (message) => new NormalizeError('unknown_source', message));
      return normalizeHook(req, source, now);
    },
  };
}
