/**
 * One authentic event, whatever carried it: normalize → access → ingest (dedup, persist, queue) → the answer the
 * platform expects. Every transport calls this after its own proof of origin: the HTTP route checks the signature
 * first; the Slack socket and the Telegram poller hold a connection they opened with the platform's token.
 */
import { isRefusal, type Refusal } from '../access/index.ts';
import type { ChannelReceiver, Logger, RawRequest } from '../ports.ts';
import type { Envelope } from '../types.ts';
import type { Ingest } from './ingest.ts';

/**
 * Whether the transport can carry an answer back to the person: `respond` (a webhook's response, a Socket Mode
 * envelope's response payload) or `send` (a polled event has no response, so a refusal's answer is sent).
 */
export type AnswerHow = 'respond' | 'send';

/**
 * Receives one event; resolves with the response the platform expects once it is stored, was a duplicate, was
 * refused by the access policy or is ignored. Throws what normalize or ingest threw (a `NormalizeError`, a rate
 * limit, the database being down): nothing was stored then.
 */
export type Receive = (req: RawRequest, how: AnswerHow) => Promise<Response>;

export function createReceive(adapter: ChannelReceiver, ingest: Ingest, logger?: Logger): Receive {
  const tellLater = (envelope: Envelope, answer: string) =>
    void adapter.refuse?.(envelope, answer, 'send')?.catch((err: unknown) => {
      logger?.warn({ channel: adapter.channel, err: (err as Error).message }, `could not tell a refused ${adapter.channel} sender why`);
    });

  return async function receive(req, how) {
    const normalized = await adapter.normalize(req);
    if (!Array.isArray(normalized)) return adapter.ackIgnored?.(normalized.ignore) ?? Response.json({ ok: true, ignored: normalized.ignore });
    const outcomes = await ingest(normalized);
    const admitted = normalized.filter((_, i) => !isRefusal(outcomes[i]!));
    const results = outcomes.filter((o): o is Exclude<typeof o, Refusal> => !isRefusal(o));
    if (!results.length) return answerRefusal(adapter, normalized, outcomes, how, tellLater);
    // Mixed (rare: several envelopes in one request): the refused ones are told directly.
    for (const [i, o] of outcomes.entries()) if (isRefusal(o) && o.answer) tellLater(normalized[i]!, o.answer);
    const acked = adapter.ack?.(admitted, results);
    if (acked) return acked;
    const duplicate = results.every((r) => r.duplicate);
    return Response.json(
      // One execution per matching routing rule: every one of them, so a sender can follow each.
      { ok: true, duplicate, executions: results.flatMap((r) => r.executionIds.map((id) => ({ id, duplicate: r.duplicate }))) },
      { status: duplicate ? 200 : 202 },
    );
  };
}

/**
 * Every envelope was refused: nothing is stored. The first answer, if any, goes back in place when the transport
 * can carry it, else it is sent; the platform then gets the answer it expects for an event we do not handle (2xx,
 * so it does not retry).
 */
async function answerRefusal(
  adapter: ChannelReceiver,
  envelopes: Envelope[],
  outcomes: Awaited<ReturnType<Ingest>>,
  how: AnswerHow,
  tellLater: (envelope: Envelope, answer: string) => void,
): Promise<Response> {
  const i = outcomes.findIndex((o) => isRefusal(o) && o.answer);
  const first = outcomes[0] as Refusal;
  if (i >= 0 && how === 'send') tellLater(envelopes[i]!, (outcomes[i] as Refusal).answer!);
  else if (i >= 0 && adapter.refuse) {
    const response = await adapter.refuse(envelopes[i]!, (outcomes[i] as Refusal).answer!, 'respond');
    if (response) return response;
  }
  return adapter.ackIgnored?.(`refused: ${first.refused}`) ?? Response.json({ ok: true, refused: first.refused });
}
