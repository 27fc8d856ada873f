/** Domain types shared by every layer. Channels translate to and from these; nothing here knows a platform. */
import type { ReviewPlan } from './review/plan.ts';

export type ChannelName = 'web' | 'hooks' | 'slack' | 'telegram' | 'whatsapp' | 'github';

export type IntentName = 'help' | 'ask' | 'summarize' | 'review' | 'status' | 'feedback';

export type Intent = { name: IntentName; args: Record<string, unknown> };

/** One inbound event, normalized. `raw` keeps what the platform sent for replay and debugging. */
export type Envelope = {
  channel: ChannelName;
  /** The platform's own id for this delivery: the dedup key together with `channel`. */
  deliveryId: string;
  /**
   * A second dedup key from what the platform signed (e.g. `sha256:<hex>` of the body), for platforms whose delivery
   * id is not covered by the signature: the same signed content under a new delivery id is then a duplicate too.
   */
  contentKey?: string;
  /** Workspace, chat, repository or hook source: the unit budgets and reports group by. */
  tenantId: string;
  /** Stable key of the conversation (thread, chat, PR) inside the channel. */
  conversationKey: string;
  userId: string;
  userName?: string;
  text: string;
  /** Where the conversation lives on the platform (thread ts, chat id, PR number …). */
  threadRef?: Record<string, unknown>;
  /** Where the reply goes (response_url, message id to reply to …). */
  replyRef?: Record<string, unknown>;
  receivedAt: string;
  raw?: unknown;
  /** Set when the event itself names an agent (a webhook payload's `agent` field, a feedback button). */
  agent?: string;
  /** What kind of event this is, for webhook-to-chat routing rules (`source` and optional `type`). */
  event?: { source: string; type?: string };
  /** Intent arguments the platform event carries itself, e.g. the execution a 👍 button rates. */
  args?: Record<string, unknown>;
  /** Who sent this, in the words of the access policy; channels whose senders are people report it, the core decides. */
  facts?: AccessFacts;
  /** The role the access policy granted: stamped by the core before the envelope is stored (trusted systems are `admin`). */
  access?: { role: Role };
  /**
   * Where a routing rule would post to reach this conversation (its destination target: a Slack channel id, a
   * Telegram chat id, `owner/repo#number`), so a vote on a routed answer can be matched to where it was delivered.
   */
  address?: string;
};

export type Role = 'admin' | 'member';

/**
 * Platform facts the access policy decides on, in a neutral shape. Ids are written the way operators write them in
 * `<CHANNEL>_ALLOW` and `<CHANNEL>_ADMINS` (a Telegram user id, an E.164 number, a GitHub login).
 */
export type AccessFacts = {
  /** The person who wrote. */
  person: string;
  /** Where they wrote, each an id an allow rule may name: a chat, a Slack team and channel, `owner/repo` and `owner/*`. */
  places: string[];
  /** Set when several people share the conversation (a group chat): its id, which a pairing then approves as a whole. */
  groupChat?: string;
  /** The platform says the person belongs where they write (a GitHub owner, member or collaborator). */
  member?: boolean;
  /** The person belongs to another organisation than the installation (a Slack Connect guest). */
  external?: boolean;
  /** The platform started this itself (a pull request opened or pushed), not a person's command. */
  automatic?: boolean;
};

export type ExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead';

export type Severity = 'high' | 'medium' | 'low';

/** What a review found on lines of a diff: `line` (to `endLine`, within one hunk) in the new file. */
export type Finding = {
  path: string;
  line: number;
  /** Set when the finding spans a block: its last line. */
  endLine?: number;
  severity: Severity;
  /** The first line is the headline; the rest is advice. */
  body: string;
  /** The heuristic that found it. */
  rule?: string;
};

/** What an agent answers. Channels render it, findings included, each once and in its own format; only `text` is required. */
export type Reply = {
  text: string;
  findings?: Finding[];
  /** Whether the answer can be rated: the channel then offers feedback controls on it. */
  feedback?: boolean;
  data?: Record<string, unknown>;
  /** What the channel's `prepare` loaded for this answer (a Slack placeholder …), kept with it for delivery. */
  context?: Record<string, unknown>;
  /** The pull-request review the core planned for this answer: delivery posts against the same commits. */
  review?: ReviewPlan;
  /**
   * Set when the answer is stored but posted nowhere, saying why (a bare +1 in a review thread a person started is
   * their conversation, not a vote): the outbound step sends no part of it, on any channel.
   */
  withheld?: string;
};

/**
 * How far delivering a reply got, kept on the execution so that a retry in any process continues after the last
 * part that went out. `anchor` is what the first part returned for the rest (the message they thread under).
 */
export type Delivered = {
  parts: number;
  /** How many parts the reply has in all, as the sender split it; absent before the first part went out. */
  total?: number;
  anchor?: string;
};

export type HistoryMessage = { role: 'user' | 'assistant'; text: string; userId?: string | null; at: string };

export type Usage = {
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  promptHash?: string;
};
