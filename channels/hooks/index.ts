/** The `hooks` channel: any system that signs its webhooks per Standard Webhooks, at `POST /hooks/:source`. */
import { canonicalHookSource, hookSecretEnvName } from '../../src/config.ts';
import { NormalizeError, VerificationError } from '../../src/ports.ts';
import type { ChannelAdapter, RawRequest } from '../../src/ports.ts';
import { normalizeHook } from './normalize.ts';
import { replyHook } from './reply.ts';
import { verifyHook } from './verify.ts';

export { normalizeHook, renderHookEvent } from './normalize.ts';
export { replyHook } from './reply.ts';
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

export type HooksAdapter = ChannelAdapter & {
  /** Whether `/hooks/<source>` accepts events: a valid name with a configured secret. */
  enabledFor(source: string): boolean;
  /** The env variable that enables `source` (empty for a name no variable can enable). */
  requiredEnvFor(source: string): string[];
};

/**
 * The source comes from the route (`/hooks/:source`) because the port hands adapters only the request. It is
 * canonicalized because `/hooks/My_App` and `/hooks/my-app` share one secret, so they are one source.
 */
function sourceOf(req: RawRequest, fail: (message: string) => Error): string {
  const source = req.params.source ?? '';
  if (!isValidHookSource(source)) throw fail(`unknown hook source ${JSON.stringify(source)}`);
  return canonicalHookSource(source);
}

export function createHooksAdapter(opts: HooksAdapterOptions): HooksAdapter {
  const now = opts.now ?? (() => new Date());
  return {
    channel: 'hooks',
    // Enabled per source, not as a whole: the route asks `enabledFor` and names `requiredEnvFor` in its 404.
    enabled: true,
    requiredEnv: ['HOOK_SECRET_<SOURCE>'],
    enabledFor: (source) => isValidHookSource(source) && Boolean(opts.secretFor(source)),
    requiredEnvFor: (source) => (isValidHookSource(source) ? [hookSecretEnvName(source)] : []),
    verify(req) {
      const source = sourceOf(req, (message) => new VerificationError('unknown_source', message));
      verifyHook(req, opts.secretFor(source), now);
    },
    normalize(req) {
      const source = sourceOf(req, (message) => new NormalizeError('unknown_source', message));
      return normalizeHook(req, source, now);
    },
    reply: replyHook,
  };
}
