/** Signed load with autocannon: Standard Webhooks on /hooks/:source and Slack slash commands on /slack/events. */
import autocannon from 'autocannon';
import { Webhook } from 'standardwebhooks';
import { slackSignature, TEAM } from '../../../test/fakes/slack-api.ts';

/** For `seconds`, or until `amount` requests were made when it is given. */
type Load = { connections: number; seconds: number; amount?: number };
type Setup = (n: number) => { body: string; headers: Record<string, string> };

async function hammer(base: string, path: string, opts: Load, setup: Setup) {
  let n = 0;
  const result = await autocannon({
    url: base,
    connections: opts.connections,
    ...(opts.amount ? { amount: opts.amount } : { duration: opts.seconds }),
    requests: [{ method: 'POST', path, setupRequest: (req: any) => ({ ...req, ...setup(++n) }) }],
  });
  const ok = result['2xx'];
  return { rps: Math.round(ok / result.duration), p50: result.latency.p50, p99: result.latency.p99, ok, non2xx: result.non2xx, errors: result.errors };
}

/**
 * `/sb` slash commands asking a question, one person per request (so no per-person quota lock is shared),
 * signed as Slack signs them; the ask agent answers with the offline provider at `responseUrl(id)`.
 * (`status` would be refused, storing nothing: it needs an admin.)
 */
export function hammerSlack(base: string, opts: Load & { secret: string; responseUrl(id: string): string }) {
  return hammer(base, '/slack/events', opts, (n) => {
    const id = `${process.pid}-${n}`;
    const body = new URLSearchParams({
      token: 'legacy-verification-token',
      team_id: TEAM,
      team_domain: 'bench',
      channel_id: 'C0BENCH01',
      channel_name: 'bench',
      user_id: `U${id}`,
      user_name: `user${n}`,
      command: '/sb',
      text: `is deploy ${n} done?`,
      api_app_id: 'A0APP0001',
      trigger_id: `trigger.${id}`,
      response_url: opts.responseUrl(id),
    }).toString();
    const timestamp = String(Math.floor(Date.now() / 1000));
    return {
      body,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': timestamp,
        'x-slack-signature': slackSignature(opts.secret, timestamp, body),
      },
    };
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
