/**
 * The `slack` channel: Events API, slash commands and interactivity on one Request URL, `POST /slack/events`, or
 * over Socket Mode when SLACK_APP_TOKEN is set (socket.ts: the same normalize behind another transport).
 */
import { LogLevel, WebClient } from '@slack/web-api';
import type { Config } from '../../src/config.ts';
import type { ChannelAdapter, Logger } from '../../src/ports.ts';
import { normalizeSlack, urlVerificationChallenge, type BotIdentity, type SlackReplyRef } from './normalize.ts';
import { SLACK_PROFILE } from './profile.ts';
import { composeReply, createSlackSender, SLACK_LIMITS, WORKING_ON_IT } from './reply.ts';
import { socketMode } from './socket.ts';
import { verifySlack } from './verify.ts';

export { FEEDBACK_ACTIONS, FEEDBACK_BLOCK_ID, normalizeSlack, urlVerificationChallenge } from './normalize.ts';
export type { BotIdentity, NormalizeOptions, SlackReplyRef, SlackThreadRef } from './normalize.ts';
export {
  compareTs,
  composeReply,
  createSlackSender,
  escapeMrkdwn,
  feedbackBlock,
  fitting,
  HISTORY_LIMIT,
  renderPart,
  SLACK_LIMITS,
  voteBlocks,
  WORKING_ON_IT,
} from './reply.ts';
export type { SlackMessage } from './reply.ts';
export { SLACK_TOLERANCE_SECONDS, signSlack, verifySlack } from './verify.ts';

export type SlackAdapterOptions = {
  now?: () => Date;
  /** Warns when a thread cannot be read (which scope to add). */
  logger?: Logger;
};

const HANDSHAKE = Buffer.from('url_verification');

function contains(haystack: Uint8Array, needle: Buffer): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).includes(needle);
}

export function createSlackAdapter(config: Config['slack'], opts: SlackAdapterOptions = {}): ChannelAdapter {
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
  const sender = createSlackSender({ client, identity: botIdentity, logger: opts.logger });

  return {
    ...SLACK_PROFILE,
    requiredEnv: config.requiredEnv,
    enabled: config.enabled,
    accepts: ['application/json', 'application/x-www-form-urlencoded'],
    verify: (req) => verifySlack(req, config.signingSecret, now),
    // The Request URL also receives the `url_verification` handshake, answered with its challenge before anything is stored.
    handshake(req) {
      // A byte check keeps the handshake from verifying every event twice; the handshake itself is verified.
      if (!contains(req.body, HANDSHAKE)) return undefined;
      verifySlack(req, config.signingSecret, now);
      const challenge = urlVerificationChallenge(req);
      return challenge === undefined ? undefined : Response.json({ challenge });
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
    limits: SLACK_LIMITS,
    compose: composeReply,
    prepare: sender.prepare,
    send: sender.send,
    update: sender.update,
    postTo: sender.postTo,
    // chat.postMessage takes a conversation id (C… public, G… private, D… a DM) or a user id (U…/W…: their DM).
    validateTarget: (target) =>
      /^[CGDUW][A-Z0-9]{4,}$/.test(target)
        ? undefined
        : `"${target}" is not a Slack channel or user id: use an id like C0123456789 (channel details → About, at the bottom), G… for a private channel, U… for a user or D… for a DM; names such as #general are not accepted`,
    ...(config.appToken ? { poll: socketMode({ appToken: config.appToken, apiUrl: config.apiUrl }) } : {}),
  };
}
