/** The `slack` channel: Events API, slash commands and interactivity on one Request URL, `POST /slack/events`. */
import { LogLevel, WebClient } from '@slack/web-api';
import type { Config } from '../../src/config.ts';
import type { ChannelAdapter, RawRequest } from '../../src/ports.ts';
import type { Reply } from '../../src/types.ts';
import { normalizeSlack, urlVerificationChallenge, type BotIdentity, type SlackReplyRef } from './normalize.ts';
import { createSlackSender } from './reply.ts';
import { verifySlack } from './verify.ts';

export { FEEDBACK_ACTIONS, FEEDBACK_BLOCK_ID, normalizeSlack, urlVerificationChallenge } from './normalize.ts';
export type { BotIdentity, NormalizeOptions, SlackReplyRef } from './normalize.ts';
export { createSlackSender, escapeMrkdwn, feedbackBlock, PLACEHOLDER, renderReply, SlackRateLimitedError, splitText, voteBlocks } from './reply.ts';
export type { SlackMessage } from './reply.ts';
export { SLACK_TOLERANCE_SECONDS, signSlack, verifySlack } from './verify.ts';

export const WORKING_ON_IT = 'Working on it…';

export type SlackAdapter = ChannelAdapter & {
  /** The challenge to echo when the request is a signed `url_verification` handshake; undefined otherwise. */
  challenge(req: RawRequest): string | undefined;
  /** Posts a reply to a channel id: what webhook-to-chat routing rules deliver through. */
  postToChannel(target: string, reply: Reply, meta: { executionId: string }): Promise<void>;
};

export type SlackAdapterOptions = {
  now?: () => Date;
  /** Seconds one reply may wait out Slack 429s before the queue takes over (default 30). */
  maxRateLimitWaitSeconds?: number;
  sleep?(ms: number): Promise<void>;
};

const HANDSHAKE = Buffer.from('url_verification');

function contains(haystack: Uint8Array, needle: Buffer): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).includes(needle);
}

export function createSlackAdapter(config: Config['slack'], opts: SlackAdapterOptions = {}): SlackAdapter {
  const now = opts.now ?? (() => new Date());
  // Our queue retries with backoff, so the SDK must not retry on its own; a 429 surfaces as an error with retryAfter.
  const client = new WebClient(config.botToken, {
    slackApiUrl: config.apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
    logLevel: LogLevel.ERROR,
  });
  const sender = createSlackSender({ client, maxWaitSeconds: opts.maxRateLimitWaitSeconds, sleep: opts.sleep });

  // auth.test once per process, and only when an event does not name its bot user; a failure is retried next time.
  let identity: Promise<BotIdentity> | undefined;
  function botIdentity(): Promise<BotIdentity> {
    identity ??= client.auth.test().then(
      (r) => ({ userId: r.user_id, botId: r.bot_id }),
      () => {
        identity = undefined;
        return {};
      },
    );
    return identity;
  }

  return {
    channel: 'slack',
    requiredEnv: config.requiredEnv,
    enabled: config.enabled,
    verify: (req) => verifySlack(req, config.signingSecret, now),
    challenge(req) {
      // A byte check keeps the handshake from verifying every event twice; the handshake itself is verified.
      if (!contains(req.body, HANDSHAKE)) return undefined;
      verifySlack(req, config.signingSecret, now);
      return urlVerificationChallenge(req);
    },
    normalize: (req) => normalizeSlack(req, { now, identity: botIdentity }),
    ack(envelopes) {
      const ref = envelopes[0]?.replyRef as SlackReplyRef | undefined;
      // Only the person who typed the command sees this; the answer follows through response_url.
      if (ref?.kind === 'command') return Response.json({ response_type: 'ephemeral', text: WORKING_ON_IT });
      return new Response(null, { status: 200 });
    },
    reply: sender.reply,
    update: sender.update,
    postTo: sender.postToChannel,
    postToChannel: sender.postToChannel,
  };
}
