/**
 * One route shape for every platform webhook: enabled? → verify raw bytes → normalize → ingest → ack.
 * Verification runs on the raw body before anything parses it; a rejected request stores nothing.
 */
import type { Context, Handler } from 'hono';
import type { Ingest } from '../src/pipeline/ingest.ts';
import type { ChannelAdapter, RawRequest } from '../src/ports.ts';
import { jsonError } from './errors.ts';
import { tooDeep, unsupportedMediaType } from './middleware.ts';

export type ChannelRouteOptions = {
  adapter: ChannelAdapter;
  ingest: Ingest;
  /** Per-request enablement (hooks are enabled per source). Defaults to the adapter's own flag. */
  enabled?(c: Context): { enabled: boolean; requiredEnv: string[] };
  /** Media types the platform posts; checked once the channel is known to be enabled, so a disabled one says so first. */
  accepts?: readonly string[];
};

export async function rawRequest(c: Context): Promise<RawRequest> {
  return { body: new Uint8Array(await c.req.arrayBuffer()), headers: c.req.raw.headers, url: c.req.url, params: c.req.param() as Record<string, string> };
}

const mediaType = (req: RawRequest) => (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();

export function disabledChannel(c: Context, channel: string, requiredEnv: string[]) {
  return jsonError(
    c,
    404,
    'channel_disabled',
    `The ${channel} channel is not enabled on this server: set ${requiredEnv.join(', ')} and restart.`,
  );
}

export function channelRoute(opts: ChannelRouteOptions): Handler {
  const { adapter, ingest } = opts;
  return async function receive(c) {
    const state = opts.enabled?.(c) ?? adapter;
    if (!state.enabled) return disabledChannel(c, adapter.channel, state.requiredEnv);
    const refused = opts.accepts && unsupportedMediaType(c, opts.accepts);
    if (refused) return refused;
    const req = await rawRequest(c);
    await adapter.verify(req);
    // Bounded before the adapter parses it: a JSON body nested thousands deep would exhaust a recursive parser or walk.
    if (mediaType(req) === 'application/json') {
      const deep = tooDeep(c, new TextDecoder().decode(req.body));
      if (deep) return deep;
    }
    const normalized = await adapter.normalize(req);
    if (!Array.isArray(normalized)) return adapter.ackIgnored?.(normalized.ignore) ?? c.json({ ok: true, ignored: normalized.ignore });
    const results = await ingest(normalized);
    const acked = adapter.ack?.(normalized, results);
    if (acked) return acked;
    const duplicate = results.length > 0 && results.every((r) => r.duplicate);
    return c.json(
      // One execution per matching routing rule: every one of them, so a sender can follow each.
      { ok: true, duplicate, executions: results.flatMap((r) => r.executionIds.map((id) => ({ id, duplicate: r.duplicate }))) },
      duplicate ? 200 : 202,
    );
  };
}
