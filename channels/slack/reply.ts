/** Replies on Slack within its limits: thread replies, slash-command responses, routed posts and 👍/👎 votes. */
import type { types } from '@slack/bolt';
import { ErrorCode } from '@slack/web-api';
import type { ChatPostMessageArguments, WebClient } from '@slack/web-api';
import type { Envelope, Reply } from '../../src/types.ts';
import { FEEDBACK_BLOCK_ID, type SlackReplyRef } from './normalize.ts';

type Block = types.KnownBlock;
export type SlackMessage = { text: string; blocks: Block[] };

/** Block Kit's limit for the text of one section. */
export const SECTION_CHARS = 3000;
/** Around 13k characters of blocks a message fails with msg_blocks_too_long, so three full sections stay clear of it. */
export const SECTIONS_PER_MESSAGE = 3;
/** A response_url takes at most five messages. */
export const RESPONSE_URL_USES = 5;
export const PLACEHOLDER = '_Writing a long answer…_';

/** Slack asked us to wait longer than one reply may: the error carries Retry-After so the retry comes later. */
export class SlackRateLimitedError extends Error {
  readonly code = 'slack_rate_limited';
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, what: string) {
    super(`Slack rate-limited ${what}: retry after ${retryAfterSeconds} s`);
    this.name = 'SlackRateLimitedError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** mrkdwn reserves &, < and >; agents write plain text, so a `<question>` must not become a broken link. */
export const escapeMrkdwn = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** How many UTF-16 units of `text` fit in `limit` once escaped, never splitting a surrogate pair. */
function fitting(text: string, limit: number): number {
  let used = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const width = /[\uD800-\uDBFF]/.test(ch) && i + 1 < text.length ? 2 : 1;
    const cost = ch === '&' ? 5 : ch === '<' || ch === '>' ? 4 : width;
    if (used + cost > limit) break;
    used += cost;
    i += width;
  }
  return i;
}

/**
 * Splits text into pieces that fit `limit` once escaped, at the last paragraph break, else line break, else space
 * in the second half of the window; only a single word longer than the limit is cut inside. Nothing is dropped but
 * the whitespace at a cut, and a code fence open at a cut is closed and reopened.
 */
export function splitText(text: string, limit = SECTION_CHARS): string[] {
  const parts: string[] = [];
  let rest = text.trim();
  while (fitting(rest, limit) < rest.length) {
    const fit = fitting(rest, limit - 4); // room to close a code fence
    const window = rest.slice(0, fit);
    let cut = fit;
    for (const sep of ['\n\n', '\n', ' ']) {
      const at = window.lastIndexOf(sep);
      if (at >= fit / 2) {
        cut = at;
        break;
      }
    }
    let part = rest.slice(0, cut).trimEnd();
    rest = rest.slice(cut).replace(/^\s+/, '');
    if ((part.match(/```/g) ?? []).length % 2 === 1) {
      part += '\n```';
      rest = `\`\`\`\n${rest}`;
    }
    parts.push(part);
  }
  if (rest || !parts.length) parts.push(rest);
  return parts;
}

const section = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(text) || ' ' } });

/** 👍/👎 buttons; each value names the execution it rates, so the click needs no lookup. */
export function feedbackBlock(executionId: string): Block {
  const button = (actionId: string, emoji: string, score: 1 | -1) => ({
    type: 'button' as const,
    action_id: actionId,
    text: { type: 'plain_text' as const, text: emoji, emoji: true },
    value: JSON.stringify({ executionId, score }),
  });
  return { type: 'actions', block_id: FEEDBACK_BLOCK_ID, elements: [button('sb_feedback_up', '👍', 1), button('sb_feedback_down', '👎', -1)] };
}

/** The rated message with its buttons replaced by who voted what. */
export function voteBlocks(blocks: unknown[], userId: string, score: 1 | -1): Block[] {
  const kept = blocks.filter((b) => (b as { block_id?: string }).block_id !== FEEDBACK_BLOCK_ID) as Block[];
  return [...kept, { type: 'context', elements: [{ type: 'mrkdwn', text: `${score === 1 ? '👍' : '👎'} recorded by <@${userId}>` }] }];
}

/** A reply as Slack messages: review comments appended, split to fit, feedback buttons on the last one. */
export function renderReply(reply: Reply, executionId?: string): SlackMessage[] {
  const comments = (reply.comments ?? []).map((c) => `• ${c.path}:${c.line} — ${c.body}`);
  const sections = splitText([reply.text, comments.join('\n')].filter(Boolean).join('\n\n'));
  const messages: SlackMessage[] = [];
  for (let i = 0; i < sections.length; i += SECTIONS_PER_MESSAGE) {
    const chunk = sections.slice(i, i + SECTIONS_PER_MESSAGE);
    messages.push({ text: escapeMrkdwn(chunk.join('\n\n')), blocks: chunk.map(section) });
  }
  if (reply.feedback && executionId) messages.at(-1)!.blocks.push(feedbackBlock(executionId));
  return messages;
}

// Platform errors an operator can fix, and how.
const HINTS: Record<string, string> = {
  not_in_channel: 'invite the bot to the channel (/invite @Switchboard)',
  channel_not_found: 'check the channel id, and that the bot is a member of private channels',
  invalid_auth: 'check SLACK_BOT_TOKEN (OAuth & Permissions → Bot User OAuth Token)',
  token_revoked: 'reinstall the app and update SLACK_BOT_TOKEN',
  missing_scope: 'add the scope (see `npx switchboard slack manifest`) and reinstall the app',
};

export type SenderOptions = {
  client: WebClient;
  fetch?: typeof fetch;
  /** Seconds one reply may spend waiting out 429s; past that the error carries Retry-After to the queue. */
  maxWaitSeconds?: number;
  sleep?(ms: number): Promise<void>;
};

type Progress = { sent: number; ts?: string };
type Budget = { waited: number };

export function createSlackSender(opts: SenderOptions) {
  const { client } = opts;
  const fetchFn = opts.fetch ?? fetch;
  const maxWait = opts.maxWaitSeconds ?? 30;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  // Messages already sent per execution: a retried reply resumes after them instead of posting them again.
  const progress = new Map<string, Progress>();

  async function retrying<T>(what: string, budget: Budget, call: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await call();
      } catch (err) {
        const e = err as { code?: string; retryAfter?: number; data?: { error?: string } };
        const retryAfter = err instanceof SlackRateLimitedError ? err.retryAfterSeconds : e?.code === ErrorCode.RateLimitedError ? e.retryAfter : undefined;
        if (retryAfter === undefined) {
          const hint = HINTS[e?.data?.error ?? ''];
          throw hint ? new Error(`${what} failed: ${e.data!.error}; ${hint}`, { cause: err }) : err;
        }
        // Honour Retry-After here while it is short, so a multi-part answer continues where it stopped.
        if (budget.waited + retryAfter > maxWait) throw new SlackRateLimitedError(retryAfter, what);
        budget.waited += retryAfter;
        await sleep(retryAfter * 1000);
      }
    }
  }

  async function inOrder(key: string, messages: SlackMessage[], send: (m: SlackMessage, i: number, state: Progress) => Promise<void>) {
    const state = progress.get(key) ?? { sent: 0 };
    progress.set(key, state);
    if (progress.size > 1000) progress.delete(progress.keys().next().value!);
    for (let i = state.sent; i < messages.length; i++) {
      await send(messages[i]!, i, state);
      state.sent = i + 1;
    }
    progress.delete(key);
  }

  function post(budget: Budget, args: ChatPostMessageArguments) {
    return retrying('chat.postMessage', budget, () => client.chat.postMessage({ unfurl_links: false, unfurl_media: false, ...args }));
  }

  async function respond(budget: Budget, url: string, body: Record<string, unknown>) {
    await retrying('response_url', budget, async () => {
      const res = await fetchFn(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status === 429) throw new SlackRateLimitedError(Number(res.headers.get('retry-after')) || 1, 'response_url');
      if (!res.ok) throw new Error(`Slack response_url answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    });
  }

  const edit = (budget: Budget, channel: string, ts: string, message: { text: string; blocks?: Block[] }) =>
    retrying('chat.update', budget, () => client.chat.update({ channel, ts, ...message }));

  /**
   * Edits a message. `{ channel, ts }` names one: it is rewritten and parts that do not fit follow in its thread.
   * A thread reply address with `executionId` (what streaming passes) means that execution's answer so far: posted
   * on first use, edited after, and replaced by the final reply. A response_url cannot be edited in place; the
   * final reply arrives whole there.
   */
  async function update(ref: Record<string, unknown>, reply: Reply) {
    const executionId = typeof ref.executionId === 'string' ? ref.executionId : undefined;
    if (typeof ref.ts === 'string' && typeof ref.channel === 'string') {
      const [first, ...rest] = renderReply(reply, executionId);
      const budget = { waited: 0 };
      await edit(budget, ref.channel, ref.ts, first!);
      for (const message of rest) await post(budget, { channel: ref.channel, thread_ts: (ref.threadTs as string | undefined) ?? ref.ts, ...message });
      return;
    }
    const thread = ref as SlackReplyRef;
    if (thread.kind !== 'thread' || !executionId) return;
    // A streamed edit never waits out a 429: the next edit carries newer text anyway.
    const budget = { waited: Number.POSITIVE_INFINITY };
    const preview = renderReply({ text: reply.text })[0]!;
    const state = progress.get(executionId) ?? { sent: 0 };
    progress.set(executionId, state);
    if (state.ts) await edit(budget, thread.channel, state.ts, preview);
    else state.ts = (await post(budget, { channel: thread.channel, thread_ts: thread.threadTs, ...preview })).ts;
  }

  /** Posts to a channel id (a routing rule's destination); parts after the first go into its thread. */
  async function postToChannel(target: string, reply: Reply, meta: { executionId: string }) {
    const budget = { waited: 0 };
    await inOrder(`post:${meta.executionId}:${target}`, renderReply(reply, meta.executionId), async (message, i, state) => {
      const posted = await post(budget, { channel: target, ...message, ...(state.ts ? { thread_ts: state.ts } : {}) });
      if (i === 0) state.ts = posted.ts;
    });
  }

  async function reply(envelope: Envelope, reply: Reply, meta: { executionId: string }) {
    const ref = envelope.replyRef as SlackReplyRef | undefined;
    const budget = { waited: 0 };
    const messages = renderReply(reply, meta.executionId);
    if (ref?.kind === 'thread') {
      await inOrder(meta.executionId, messages, async (message, i, state) => {
        if (i > 0 || (messages.length === 1 && !state.ts)) return void (await post(budget, { channel: ref.channel, thread_ts: ref.threadTs, ...message }));
        // Part one replaces the streamed answer, or for a long answer a placeholder that shows at once.
        state.ts ??= (await post(budget, { channel: ref.channel, thread_ts: ref.threadTs, text: PLACEHOLDER })).ts;
        await edit(budget, ref.channel, state.ts!, message);
      });
    } else if (ref?.kind === 'command') {
      await inOrder(meta.executionId, messages, async (message, i) => {
        // Past response_url's five uses the rest goes to the channel, which needs the bot invited there.
        if (i < RESPONSE_URL_USES) await respond(budget, ref.responseUrl, { response_type: 'in_channel', replace_original: false, ...message });
        else await post(budget, { channel: ref.channel, ...message });
      });
    } else if (ref?.kind === 'vote') {
      if (typeof reply.data?.executionId === 'string') {
        const blocks = voteBlocks(ref.blocks, ref.userId, ref.score);
        await edit(budget, ref.channel, ref.ts, { text: ref.text, blocks });
      } else {
        // Not recorded (nothing to rate, agent disabled): tell only the person who clicked.
        await respond(budget, ref.responseUrl, { response_type: 'ephemeral', replace_original: false, text: escapeMrkdwn(reply.text) });
      }
    } else {
      throw new Error(`Slack envelope ${envelope.deliveryId} has no reply address (replyRef.kind is ${String((ref as { kind?: unknown } | undefined)?.kind)})`);
    }
  }

  return { reply, postToChannel, update };
}
