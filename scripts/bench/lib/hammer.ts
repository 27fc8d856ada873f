/** Signed Standard Webhooks load on /hooks/:source with autocannon: the ingest half of the scale benchmark. */
import autocannon from 'autocannon';
import { Webhook } from 'standardwebhooks';

export async function hammerHooks(base: string, opts: { secret: string; connections: number; seconds: number; source?: string }) {
  const wh = new Webhook(opts.secret);
  let n = 0;
  const result = await autocannon({
    url: base,
    connections: opts.connections,
    duration: opts.seconds,
    requests: [
      {
        method: 'POST',
        path: `/hooks/${opts.source ?? 'bench'}`,
        setupRequest(req: any) {
          const id = `msg_${process.pid}_${++n}`;
          const now = new Date();
          // The default path of a webhook event: the ask agent with the offline provider.
          const body = JSON.stringify({ type: 'bench.event', text: `deploy ${n} finished on web-1`, n });
          return {
            ...req,
            body,
            headers: {
              'content-type': 'application/json',
              'webhook-id': id,
              'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
              'webhook-signature': wh.sign(id, now, body),
            },
          };
        },
      },
    ],
  });
  const ok = result['2xx'];
  return { rps: Math.round(ok / result.duration), p50: result.latency.p50, p99: result.latency.p99, ok, non2xx: result.non2xx, errors: result.errors };
}
