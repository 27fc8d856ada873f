/**
 * The `slack` channel: Events API, slash commands and interactivity on one Request URL, `POST /slack/events`, or
 * over Socket Mode when SLACK_APP_TOKEN is set (socket.ts: the same normalize behind another transport).
 */
import { LogLevel, WebClient } from '@slack/web-api';
import type { Config } from '../../src/config.ts';
import type { ChannelAdapter, Logger, RawRequest } from '../../src/ports.ts';
import { normalizeSlack, urlVerificationChallenge, type BotIdentity, type SlackReplyRef } from './normalize.ts';
import { createSlackSender, WORKING_ON_IT } from './reply.ts';
import { socketMode } from './socket.ts';
import { verifySlack } from './verify.ts';

export { FEEDBACK_ACTIONS, FEEDBACK_BLOCK_ID, normalizeSlack, urlVerificationChallenge } from './normalize.ts';
export type { BotIdentity, NormalizeOptions, SlackReplyRef, SlackThreadRef } from './normalize.ts';
export { compareTs, createSlackSender, escapeMrkdwn, feedbackBlock, HISTORY_LIMIT, renderReply, SlackRateLimitedError, splitText, voteBlocks, WORKING_ON_IT } from './reply.ts';
export type { SlackMessage } from './reply.ts';
export { SLACK_TOLERANCE_SECONDS, signSlack, verifySlack } from './verify.ts';

export type SlackAdapter = ChannelAdapter & {
  /** The challenge to echo when the request is a signed `url_verification` handshake; undefined otherwise. */
  challenge(req: RawRequest): string | undefined;
};

export type SlackAdapterOptions = {
  now?: () => Date;
  /** Seconds one reply may wait out Slack 429s before the queue takes over (default 10). */
  maxRateLimitWaitSeconds?: number;
  sleep?(ms: number): Promise<void>;
  /** Warns when a thread cannot be read (which scope to add). */
  logger?: Logger;
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
  const sender = createSlackSender({ client, maxWaitSeconds: opts.maxRateLimitWaitSeconds, sleep: opts.sleep, identity: botIdentity, logger: opts.logger });

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
    async refuse(envelope, text, how) {
      const ref = envelope.replyRef as SlackReplyRef;
      // A slash command's answer is the ephemeral text of its ack; elsewhere only the person sees an ephemeral message.
      if (ref.kind === 'command' && how === 'respond') return Response.json({ response_type: 'ephemeral', text });
      const threadTs = ref.kind === 'thread' ? ref.threadTs : undefined;
      await client.chat.postEphemeral({ channel: ref.channel, user: envelope.userId, text, ...(threadTs ? { thread_ts: threadTs } : {}) });
      return undefined;
    },
    prepare: sender.prepare,
    reply: sender.reply,
    update: sender.update,
    postTo: sender.postToChannel,
    // chat.postMessage takes a conversation id (C… public, G… private, D… a DM) or a user id (U…/W…: their DM).
    validateTarget: (target) =>
      /^[CGDUW][A-Z0-9]{4,}$/.test(target)
        ? undefined
        : `"${target}" is not a Slack channel or user id: use an id like C0123456789 (channel details → About, at the bottom), G… for a private channel, U… for a user or D… for a DM; names such as #general are not accepted`,
    ...(config.appToken ? { poll: socketMode({ appToken: config.appToken, apiUrl: config.apiUrl }) } : {}),
  };
}
