/**
 * One route shape for every platform webhook: enabled? → verify raw bytes → the receive step every transport shares
 * (src/pipeline/receive.ts: normalize → access → ingest → ack).
 * Verification runs on the raw body before anything parses it; a rejected request stores nothing.
 */
import type { Context, Handler } from 'hono';
import { DatabaseUnavailableError } from '../src/errors.ts';
import type { Ingest } from '../src/pipeline/ingest.ts';
import { createReceive } from '../src/pipeline/receive.ts';
import type { ChannelReceiver, RawRequest } from '../src/ports.ts';
import { jsonError } from './errors.ts';
import { tooDeep, unsupportedMediaType } from './middleware.ts';

export type ChannelRouteOptions = {
  adapter: ChannelReceiver;
  ingest: Ingest;
  /** Told when the database could not take a verified delivery (503): platforms like GitHub never send it again. */
  onRefused?(channel: string): void;
};

export async function rawRequest(c: Context): Promise<RawRequest> {
  return { body: new Uint8Array(await c.req.arrayBuffer()), headers: c.req.raw.headers, url: c.req.url, params: c.req.param() as Record<string, string> };
}

const mediaType = (req: RawRequest) => (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();

export function disabledChannel(c: Context, channel: string, requiredEnv: string[]) {
  return jsonError(c, 404, 'channel_disabled', `The ${channel} channel is not enabled on this server: set ${requiredEnv.join(', ')} and restart.`);
}

export function channelRoute(opts: ChannelRouteOptions): Handler {
  const { adapter } = opts;
  const receiveEvent = createReceive(adapter, opts.ingest);
  return async function receive(c) {
    // Per request where the receiver says so (hooks are enabled per source); a disabled channel says so first.
    const state = adapter.enabledFor?.(c.req.param() as Record<string, string>) ?? adapter;
    if (!state.enabled) return disabledChannel(c, adapter.channel, state.requiredEnv);
    const refused = adapter.accepts && unsupportedMediaType(c, adapter.accepts);
    if (refused) return refused;
    const req = await rawRequest(c);
    const handshake = adapter.handshake?.(req);
    if (handshake) return handshake;
    await adapter.verify(req);
    // Bounded before the adapter parses it: a JSON body nested thousands deep would exhaust a recursive parser or walk.
    if (mediaType(req) === 'application/json') {
      const deep = tooDeep(c, new TextDecoder().decode(req.body));
      if (deep) return deep;
    }
    return receiveEvent(req, 'respond').catch((err: unknown) => {
      if (err instanceof DatabaseUnavailableError) opts.onRefused?.(adapter.channel);
      throw err;
    });
  };
}
