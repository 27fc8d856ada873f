/**
 * Slack over Socket Mode (SLACK_APP_TOKEN): this process opens a WebSocket to Slack (apps.connections.open with the
 * app-level token) and Slack sends events, slash commands and interactions over it instead of posting to
 * /slack/events, so no public URL is needed. A thin transport: each envelope is turned back into the request Slack
 * would have posted and goes through the adapter's one normalize and the pipeline's one receive step.
 *
 * Acknowledging is confirming. Slack sends an envelope again (with `retry_attempt`) when it was not acknowledged
 * within 3 s, so the ack goes out only after `receive` resolved, i.e. after the delivery row committed: a process
 * that dies in between leaves the envelope unacknowledged, Slack redelivers it (to whichever connection holds the
 * lock then) and the dedup on event_id / trigger_id stores it once. What Slack gives up on (no ack after its retries,
 * or a slash command not acknowledged within 3 s, which the person sees as a failure) is lost, as over HTTP.
 */
import { SocketModeClient, LogLevel, type Logger as SlackLogger } from '@slack/socket-mode';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, RawRequest } from '../../src/ports.ts';

type Receive = (req: RawRequest, how?: 'respond' | 'send') => Promise<Response | undefined>;

/** What the SDK hands over for every envelope but `hello` and `disconnect`. */
type SlackEnvelope = {
  ack(payload?: Record<string, unknown>): Promise<void>;
  envelope_id: string;
  type: string;
  body: Record<string, unknown>;
  retry_num?: number;
  accepts_response_payload?: boolean;
};

export type SocketModeOptions = { appToken: string; apiUrl: string };

/** Longest wait between attempts to reconnect while connecting keeps failing, in seconds. */
const MAX_BACKOFF_SECONDS = 30;

/** The request Slack would have posted to /slack/events for this envelope; undefined for types we do not take. */
function envelopeRequest(type: string, body: Record<string, unknown>): RawRequest | undefined {
  const request = (contentType: string, text: string): RawRequest => ({
    body: new TextEncoder().encode(text),
    headers: new Headers({ 'content-type': contentType }),
    url: 'slack:socket-mode',
    params: {},
  });
  const form = 'application/x-www-form-urlencoded';
  if (type === 'events_api') return request('application/json', JSON.stringify(body));
  if (type === 'slash_commands') return request(form, new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)])).toString());
  if (type === 'interactive') return request(form, new URLSearchParams({ payload: JSON.stringify(body) }).toString());
  return undefined;
}

/** The JSON body of the route's answer (a slash command's ephemeral text), sent back as the ack's payload. */
async function payloadOf(answer: Response | undefined): Promise<Record<string, unknown> | undefined> {
  if (!answer || !(answer.headers.get('content-type') ?? '').includes('json')) return undefined;
  return (await answer.json()) as Record<string, unknown>;
}

/**
 * The SDK's own lines go to debug: they include raw payloads, and this loop reports what an operator must know
 * (cannot connect, dropped, reconnecting) in its own words.
 */
function sdkLogger(logger: Logger): SlackLogger {
  const debug = (...msg: unknown[]) => logger.debug({ channel: 'slack', sdk: 'socket-mode' }, msg.map(String).join(' '));
  return { debug, info: debug, warn: debug, error: debug, setLevel() {}, getLevel: () => LogLevel.INFO, setName() {} };
}

const isDisconnect = (data: unknown): boolean => typeof data === 'string' && /"type"\s*:\s*"disconnect"/.test(data);

/**
 * The Socket Mode loop, run as the adapter's `poll` (one process at a time, under the leader lock). It reconnects
 * until `signal` aborts: at once when Slack asks (a `disconnect` message: refresh_requested, warning, link_disabled),
 * else after 1 s, 2 s … 30 s while connecting keeps failing.
 */
export function socketMode(opts: SocketModeOptions) {
  return async function poll(receive: Receive, { signal, logger }: { signal: AbortSignal; logger: Logger }): Promise<void> {
    async function deliver(envelope: SlackEnvelope): Promise<void> {
      const context = { channel: 'slack', envelopeId: envelope.envelope_id, type: envelope.type, ...(envelope.retry_num ? { retry: envelope.retry_num } : {}) };
      const req = envelopeRequest(envelope.type, envelope.body);
      let answer: Response | undefined;
      try {
        // A type we do not take is acknowledged all the same, so Slack does not send it again.
        answer = req && (await receive(req, 'respond'));
      } catch (err) {
        logger.warn(
          { ...context, err: (err as Error).message },
          'a Slack Socket Mode envelope could not be stored; it stays unacknowledged, so Slack sends it again',
        );
        return;
      }
      const payload = envelope.accepts_response_payload ? await payloadOf(answer) : undefined;
      await envelope.ack(payload).catch((err: unknown) => {
        logger.warn(
          { ...context, err: (err as Error).message },
          'could not acknowledge a stored Slack envelope (the connection closed); Slack sends it again and it is recognized as a duplicate',
        );
      });
    }

    /** One connection, from apps.connections.open to its close. Resolves whether Slack asked to reconnect. */
    async function connection(): Promise<{ connected: boolean; requested: boolean }> {
      const client = new SocketModeClient({
        appToken: opts.appToken,
        // Reconnecting is this loop's: the SDK's would retry apps.connections.open 100 times before a stop could end it.
        autoReconnectEnabled: false,
        logger: sdkLogger(logger),
        clientOptions: { slackApiUrl: opts.apiUrl, retryConfig: { retries: 0 } },
      });
      let requested = false;
      let connected = false;
      client.on('ws_message', (data: unknown) => void (requested ||= isDisconnect(data)));
      client.on('slack_event', (envelope: SlackEnvelope) => {
        const delivering = deliver(envelope).finally(() => inFlight.delete(delivering));
        inFlight.add(delivering);
      });
      const closed = new Promise<void>((resolve) => client.on('disconnected', () => resolve()));
      const stop = () => void client.disconnect();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await client.start();
        connected = true;
        // A stop while apps.connections.open was under way reaches no socket: close the one that opened since.
        if (signal.aborted) stop();
        else logger.info({ channel: 'slack' }, 'Slack: receiving events over Socket Mode (SLACK_APP_TOKEN); no public URL needed');
        await closed;
      } catch (err) {
        if (!signal.aborted) logger.warn({ channel: 'slack', err: err instanceof Error ? err.message : String(err) }, problem(err));
      } finally {
        signal.removeEventListener('abort', stop);
      }
      return { connected, requested };
    }

    // Envelopes still being stored when the loop ends: awaited, so a stop does not close the database under them.
    const inFlight = new Set<Promise<void>>();
    let failures = 0;
    while (!signal.aborted) {
      const { connected, requested } = await connection();
      if (signal.aborted) break;
      failures = connected ? 0 : failures + 1;
      if (requested) {
        logger.info({ channel: 'slack' }, 'Slack asked this Socket Mode connection to reconnect; opening a new one');
        continue;
      }
      const seconds = Math.min(MAX_BACKOFF_SECONDS, 2 ** Math.max(0, failures - 1));
      if (connected) logger.warn({ channel: 'slack', retryInSeconds: seconds }, `the Slack Socket Mode connection dropped; reconnecting in ${seconds} s`);
      await sleep(seconds * 1000, undefined, { signal }).catch(() => {});
    }
    await Promise.all(inFlight);
  };
}

/** What an operator should make of a connection that could not open. */
function problem(err: unknown): string {
  const code = (err as { data?: { error?: string } } | undefined)?.data?.error;
  if (code === 'invalid_auth' || code === 'not_authed' || code === 'token_revoked' || code === 'not_allowed_token_type') {
    return `Slack refused SLACK_APP_TOKEN (${code}): set it to an app-level token (xapp-…) with connections:write from api.slack.com/apps → Basic Information → App-Level Tokens; retrying`;
  }
  if (code) return `apps.connections.open answered ${code}: is Socket Mode turned on for this app (api.slack.com/apps → Socket Mode)? retrying`;
  return 'could not open a Slack Socket Mode connection (network?); retrying';
}
