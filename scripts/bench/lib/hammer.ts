/** Signed load with autocannon: Standard Webhooks on /hooks/:source and Slack mentions on /slack/events. */
import autocannon from 'autocannon';
import { Webhook } from 'standardwebhooks';
import { eventBody, slackSignature } from '../../../test/fakes/slack-api.ts';

type Load = { connections: number; seconds: number };
type Setup = (n: number) => { body: string; headers: Record<string, string> };

async function hammer(base: string, path: string, opts: Load, setup: Setup) {
  let n = 0;
  const result = await autocannon({
    url: base,
    connections: opts.connections,
    duration: opts.seconds,
    requests: [{ method: 'POST', path, setupRequest: (req: any) => ({ ...req, ...setup(++n) }) }],
  });
  const ok = result['2xx'];
  return { rps: Math.round(ok / result.duration), p50: result.latency.p50, p99: result.latency.p99, ok, non2xx: result.non2xx, errors: result.errors };
}

/** App mentions in distinct threads, each with its own event_id, signed as Slack signs them. */
export function hammerSlack(base: string, opts: Load & { secret: string }) {
  return hammer(base, '/slack/events', opts, (n) => {
    const ts = `1700000000.${String(n).padStart(6, '0')}`;
    const body = JSON.stringify(eventBody({ type: 'app_mention', user: `U${n % 50}`, channel: 'C0BENCH01', ts, text: `<@U0BOT0001> is deploy ${n} done?` }, `Ev${process.pid}${n}`));
    const timestamp = String(Math.floor(Date.now() / 1000));
    return { body, headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': slackSignature(opts.secret, timestamp, body) } };
  });
}

export function hammerHooks(base: string, opts: Load & { secret: string; source?: string }) {
  const wh = new Webhook(opts.secret);
  return hammer(base, `/hooks/${opts.source ?? 'bench'}`, opts, (n) => {
    const id = `msg_${process.pid}_${n}`;
    const now = new Date();
    // The default path of a webhook event: the ask agent with the offline provider.
    const body = JSON.stringify({ type: 'bench.event', text: `deploy ${n} finished on web-1`, n });
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': wh.sign(id, now, body),
      },
    };
  });
}
