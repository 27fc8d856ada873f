/**
 * One route shape for every platform webhook: enabled? → verify raw bytes → normalize → ingest → ack.
 * Verification runs on the raw body before anything parses it; a rejected request stores nothing.
 */
import type { Context, Handler } from 'hono';
import { DatabaseUnavailableError } from '../src/errors.ts';
import { isRefusal, type Refusal } from '../src/access/index.ts';
import type { IngestResult } from '../db/index.ts';
import type { Ingest } from '../src/pipeline/ingest.ts';
import type { ChannelReceiver, RawRequest } from '../src/ports.ts';
import type { Envelope } from '../src/types.ts';
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
    const normalized = await adapter.normalize(req);
    if (!Array.isArray(normalized)) return adapter.ackIgnored?.(normalized.ignore) ?? c.json({ ok: true, ignored: normalized.ignore });
    const outcomes = await ingest(normalized).catch((err: unknown) => {
      if (err instanceof DatabaseUnavailableError) opts.onRefused?.(adapter.channel);
      throw err;
    });
    const admitted = normalized.filter((_, i) => !isRefusal(outcomes[i]!));
    const results = outcomes.filter((o): o is IngestResult => !isRefusal(o));
    if (!results.length) return answerRefusal(c, adapter, normalized, outcomes);
    // Mixed (rare: several envelopes in one request): the refused ones are told directly.
    for (const [i, o] of outcomes.entries()) {
      if (isRefusal(o) && o.answer) void adapter.refuse?.(normalized[i]!, o.answer, 'send')?.catch(() => {});
    }
    const acked = adapter.ack?.(admitted, results);
    if (acked) return acked;
    const duplicate = results.length > 0 && results.every((r) => r.duplicate);
    return c.json(
      // One execution per matching routing rule: every one of them, so a sender can follow each.
      { ok: true, duplicate, executions: results.flatMap((r) => r.executionIds.map((id) => ({ id, duplicate: r.duplicate }))) },
      duplicate ? 200 : 202,
    );
  };
}

/**
 * Every envelope of the request was refused: nothing is stored. The first answer, if any, goes back in place;
 * otherwise the platform gets the answer it expects for an event we do not handle (2xx, so it does not retry).
 */
async function answerRefusal(c: Context, adapter: ChannelReceiver, envelopes: Envelope[], outcomes: Awaited<ReturnType<Ingest>>): Promise<Response> {
  const i = outcomes.findIndex((o) => isRefusal(o) && o.answer);
  const first = outcomes[0] as Refusal;
  if (i >= 0 && adapter.refuse) {
    const response = await adapter.refuse(envelopes[i]!, (outcomes[i] as Refusal).answer!, 'respond');
    if (response) return response;
  }
  return adapter.ackIgnored?.(`refused: ${first.refused}`) ?? c.json({ ok: true, refused: first.refused });
}
