/** Ports: the seams between the core and everything that plugs into it. */
import type { PullRequest } from './review/index.ts';
import type { Envelope, HistoryMessage, Intent, Reply, Role, Usage } from './types.ts';

export type Logger = {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
};

/** A request to a language model. `system` is trusted; everything in `messages` is not. */
export type LlmRequest = {
  system: string;
  messages: { role: 'user' | 'assistant'; content: string }[];
  maxTokens?: number;
  /** The agent asking, so the offline provider can answer in kind. */
  agent: string;
  /** The version of the system prompt (`PROMPTS[agent].version`), kept with the execution's usage. */
  promptVersion?: string;
  /** Structured material the offline provider works from (history, diff, stats …). */
  offline?: Record<string, unknown>;
};

export type LlmResult = { text: string; model: string; inputTokens: number; outputTokens: number };

/** Why an answer comes from the offline provider; the answer says so. */
export type OfflineReason =
  | { kind: 'unconfigured' }
  | { kind: 'unavailable'; errors: { provider: string; message: string }[] }
  | { kind: 'budget'; detail: string };

/** What a provider gets besides the request. */
export type LlmCallOptions = {
  /** Aborts the call (timeout or the chain's deadline). */
  signal?: AbortSignal;
  /** For the offline provider: why it is answering. */
  offlineReason?: OfflineReason;
};

/** One language-model backend: `anthropic`, `openai` or `offline`. */
export type LlmProvider = {
  readonly name: string;
  complete(request: LlmRequest, options?: LlmCallOptions): Promise<LlmResult>;
  /** The streaming variant: calls `onDelta` with each piece of text as it arrives, then resolves like `complete`. */
  stream?(request: LlmRequest, onDelta: (delta: string) => void, options?: LlmCallOptions): Promise<LlmResult>;
};

/**
 * Streamed text. `text` is the answer so far; a retry or a fallback to the next provider starts over,
 * so render `text` rather than appending deltas (a restart shows as `text === delta`).
 */
export type LlmDelta = { provider: string; delta: string; text: string };

/** How one call went: kept in the reply's `data.llm`, so the execution shows what was tried. */
export type LlmTrace = {
  provider: string;
  model: string;
  promptVersion?: string;
  latencyMs: number;
  streamed: boolean;
  /** Providers tried before the one that answered, with why each failed (or was skipped). */
  fallbacks: { provider: string; error: string }[];
  /** Why the offline provider answered, when it did although others are configured. */
  offlineReason?: OfflineReason['kind'];
};

export type LlmUsage = Usage & { trace?: LlmTrace };

/** Per call: set by the worker for one execution. */
export type LlmChainOptions = {
  /** The tenant or user is over its daily budget: no provider is called; the offline answer says this. */
  overBudget?: string;
  signal?: AbortSignal;
};

/** The fallback chain agents call; it records which provider answered and what it cost. */
export type LlmChain = {
  complete(request: LlmRequest, options?: LlmChainOptions): Promise<LlmResult & { usage: LlmUsage }>;
  /** Like `complete`, streaming text through `onDelta` as it is generated; an answer from a provider that cannot stream (offline) sends no deltas. */
  stream?(request: LlmRequest, onDelta: (delta: LlmDelta) => void, options?: LlmChainOptions): Promise<LlmResult & { usage: LlmUsage }>;
  health(): ProviderHealth[];
};

/** A provider's circuit breaker: `open` means it is skipped until a probe call (`half-open`) succeeds. */
export type ProviderHealth = { name: string; state: 'closed' | 'open' | 'half-open'; lastError?: string };

/**
 * Live numbers the `status` agent reports. For an admin they cover every tenant; for anyone else `scope` names the
 * tenant they are limited to (executions and failures), while queue depth and provider health stay global.
 */
export type StatusSnapshot = {
  /** The tenant (workspace, chat, repository) the executions and failures are limited to; absent: every tenant. */
  scope?: string;
  queueDepth: number;
  executionsLastHour: Record<string, number>;
  recentFailures: { id: string; agent: string; error: string | null; at: string }[];
  agents: { name: string; enabled: boolean }[];
  providers: ProviderHealth[];
  uptimeSeconds: number;
  /** The latest scheduled health check per component (database, queue, providers). */
  healthChecks?: { component: string; ok: boolean; detail: string | null; at: string }[];
  /**
   * This process's view of the database: the current or last outage and the deliveries refused (503) since start.
   * Meant for admins: it says which platforms' events to redeliver.
   */
  database?: {
    up: boolean;
    outage?: { start: Date; end?: Date };
    refused?: { count: number; byChannel: Record<string, number>; first: Date; last: Date };
    /** For refused channels that never redeliver by themselves, how the operator gets those deliveries back. */
    redeliver?: string[];
  };
};

export type FeedbackInput = { executionId?: string; conversationId: string; userId: string; score: 1 | -1; channel: string };
/** `no-execution`: nothing to rate; `not-here`: the execution was answered in another conversation (nothing stored). */
export type FeedbackResult = { executionId: string; score: 1 | -1 } | { error: 'no-execution' | 'not-here' };

/** Everything an agent may use. Agents never see a platform SDK or the database directly. */
export type AgentContext = {
  envelope: Envelope;
  intent: Intent;
  executionId: string;
  conversationId: string;
  history: HistoryMessage[];
  llm: LlmChain;
  logger: Logger;
  now(): Date;
  agents(): Promise<{ name: string; description: string; enabled: boolean }[]>;
  status(): Promise<StatusSnapshot>;
  recordFeedback(input: FeedbackInput): Promise<FeedbackResult>;
};

export type AgentResult = Reply & { usage?: LlmUsage };

export type Agent = {
  readonly name: string;
  readonly description: string;
  /** Whether the agent calls a language model (help, status and feedback do not). */
  readonly usesLlm: boolean;
  /** The role a person needs by default (operators may change it per agent); `member` when unset. */
  readonly requiredRole?: Role;
  run(ctx: AgentContext): Promise<AgentResult>;
};

/** Raised by `verify`: the request is not from who it claims to be. */
export class VerificationError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'VerificationError';
    this.code = code;
  }
}

/** Raised by `normalize`: the request is authentic but not something we can read. */
export class NormalizeError extends Error {
  readonly code: string;
  readonly status: 400 | 415 | 422;
  constructor(code: string, message: string, status: 400 | 415 | 422 = 400) {
    super(message);
    this.name = 'NormalizeError';
    this.code = code;
    this.status = status;
  }
}

/** The raw request an adapter sees: bytes first, so signatures are checked before anything parses. */
export type RawRequest = { body: Uint8Array; headers: Headers; url: string; params: Record<string, string> };

/** Where a routing rule sends a reply: a channel and its own address (Slack channel id, Telegram chat id …). */
export type Destination = { channel: Envelope['channel']; target: string };

/**
 * How a channel's events are treated on the way in, read by the core instead of naming channels: who is throttled,
 * what is shed under load, what a tenant is called, who counts as the operator.
 */
export type IngressTraits = {
  /** Each person is rate-limited (people in chats). Off for signed systems, which would retry into a storm, and for platforms that never redeliver. */
  readonly throttled: boolean;
  /** Shed with 503 and Retry-After while the queue is over its limit: a low-priority source that retries later. */
  readonly sheddable: boolean;
  /** A tenant in a user's words ("workspace", "repository", "chat"): budget answers say "this workspace has used …". */
  readonly tenant: string;
  /** Whether an envelope stored before the access policy stamped a role came from the operator (the web channel behind ADMIN_TOKEN, signed hooks). */
  readonly operator: boolean;
  /** For a platform that never redelivers a refused delivery by itself (GitHub): how the operator redelivers it by hand. */
  readonly redeliver?: string;
};

/** What a receiver says about whether it takes a request, when that depends on the request (hooks: per source). */
export type Enablement = { enabled: boolean; requiredEnv: string[] };

/**
 * The receiving half of a channel: its webhook route, verify, normalize and the answers the platform expects.
 * Transports (the HTTP route, a poller) sit in front of it; the core reads its `traits`, never its name.
 */
export type ChannelReceiver = {
  readonly channel: Envelope['channel'];
  /** The env variables that enable this channel; named in the 404 a disabled channel answers. */
  readonly requiredEnv: string[];
  readonly enabled: boolean;
  readonly traits: IngressTraits;
  /** The webhook route (a Hono path such as `/slack/events`); absent for a channel posted to elsewhere (web: /api/messages). */
  readonly path?: string;
  /** Media types the platform posts; others get 415, once the channel is known to be enabled. */
  readonly accepts?: readonly string[];
  /** Enablement per request, from the route's params (hooks are enabled per source); without it, `enabled` and `requiredEnv`. */
  enabledFor?(params: Record<string, string>): Enablement;
  /** A handshake answered before verify and anything stored (Slack's url_verification challenge); undefined: not one. */
  handshake?(req: RawRequest): Response | undefined;
  verify(req: RawRequest): void | Promise<void>;
  /** Returns the envelopes the request carries, or `ignore` with a reason for events we do not handle. */
  normalize(req: RawRequest): Envelope[] | { ignore: string } | Promise<Envelope[] | { ignore: string }>;
  /** The response body the platform expects once the event is stored. */
  ack?(envelopes: Envelope[], results: { executionId: string; duplicate: boolean }[]): Response | undefined;
  /**
   * The response body the platform expects for an authentic request `normalize` ignored (a delivery receipt, an
   * event we do not handle), given the reason. Without it, or when it returns undefined, the answer is JSON
   * `{ ok: true, ignored }`; a platform that reads the answer (Twilio reads TwiML) says what it wants here.
   */
  ackIgnored?(reason: string): Response | undefined;
  /**
   * Tells the person the access policy refused their message (a pairing code, a quota, a role), storing nothing.
   * `respond`: return the answer as the webhook's response when the platform reads one (a Telegram Bot API method,
   * TwiML, a Slack slash command's ephemeral text), else send it and return undefined. `send`: there is no response
   * (a polled event), so send it. Without this member a refused person is told nothing.
   */
  refuse?(envelope: Envelope, text: string, how: 'respond' | 'send'): Promise<Response | undefined>;
  /**
   * Receives events over a connection this process opens (Telegram getUpdates, a Slack Socket Mode WebSocket)
   * instead of being posted to. The composition root runs it in one web process at a time (a leader lock) until
   * `signal` aborts, then awaits it. Each event goes to `receive` as the webhook route would get it, and takes the
   * same normalize → ingest path; `receive` resolves once the event is stored (or was a duplicate, or was refused
   * for good), and only then may the adapter confirm it to the platform. It resolves with the response the webhook
   * route would answer (undefined for an event skipped for good); with `how` = `respond` a refusal's answer is in
   * it, for a transport that carries a response back (a Socket Mode ack), else (`send`, the default) it is sent.
   * A throw means not stored: keep it unconfirmed and try again after the error's `retryAfterSeconds` when it has one.
   */
  poll?(receive: (req: RawRequest, how?: 'respond' | 'send') => Promise<Response | undefined>, opts: { signal: AbortSignal; logger: Logger }): Promise<void>;
};

/**
 * How long one part of a reply may be on a platform, and how the platform counts. The outbound step splits with
 * it (src/split.ts), so every channel splits the same way, each by its own measure.
 */
export type SendLimits = {
  /** The most one piece may measure. */
  readonly maxLength: number;
  /** How many leading UTF-16 units of `text` fit in `limit` as the platform counts (Slack counts escapes); default: UTF-16 units. */
  fitting?(text: string, limit: number): number;
  /** Whether a code fence open at a cut is closed and reopened, so each piece renders on its own. */
  readonly fences?: boolean;
  /** Pieces that travel together as one message (Slack: three sections); default 1. */
  readonly piecesPerPart?: number;
};

/** Where one reply goes: back to where its envelope came from, or to a routing rule's target on the sender's platform. */
export type Recipient = { envelope: Envelope } | { target: string };

/** One message of a reply on its way out: `pieces` joined make `text`; `index` counts from 0 of `count`. */
export type OutboundPart = { text: string; pieces: string[]; index: number; count: number };

/**
 * What a sender gets with each part: the whole reply (for buttons, votes and whatever it renders its own way), and
 * `anchor`, what an earlier part returned (the first message's id, to thread the rest under it), even when that
 * part was sent by an earlier attempt in another process.
 */
export type PartMeta = { executionId: string; reply: Reply; anchor?: string };

/**
 * The sending half of a channel. The outbound step (src/pipeline/outbound.ts) splits the reply with `limits`, calls
 * `send` (back where the envelope came from) or `postTo` (a routing rule's target) part by part, records on the
 * execution what was delivered, and turns a `RetryLaterError` into a wait or a deferred job. A sender returns the
 * anchor later parts need, if any.
 */
export type ChannelSender = {
  readonly channel: Envelope['channel'];
  /** Without limits the reply goes whole, as one part (a GitHub review is one API call however long). */
  readonly limits?: SendLimits;
  /** The reply as the text this platform shows before it is split (findings listed, notices added); default: its text. */
  compose?(reply: Reply, to: Recipient): string;
  /** Sends one part to where `envelope` came from. Without it the channel delivers nothing (the reply is read from the API). */
  send?(envelope: Envelope, part: OutboundPart, meta: PartMeta): Promise<string | void>;
  /** Sends one part to an address on this platform: makes the channel a destination for routing rules. */
  postTo?(target: string, part: OutboundPart, meta: PartMeta): Promise<string | void>;
  /**
   * Checks a routing rule's target before the rule is stored, so a mistyped address is refused when the operator
   * adds it instead of failing (to dead) at delivery. Returns undefined when `postTo` can deliver to `target`, else
   * a message naming the expected format (e.g. "use a chat id like -1001234567890 or @channelname").
   */
  validateTarget?(target: string): string | undefined;
  /**
   * Edits a reply in place while it streams (Slack chat.update, Telegram editMessageText): the worker calls it
   * throttled (about once a second) with the text so far; the first call may post the message, later calls edit it.
   * `send` then delivers the final text, and should edit that same message. Channels that cannot edit leave it out.
   */
  update?(envelope: Envelope, text: string, meta: { executionId: string }): Promise<void>;
  /**
   * Loads from the platform what the agent needs before it runs (a Slack thread's history, the pull request to
   * review) and shows there that work started. The worker calls it once per answer, before the agent; a throw
   * fails the attempt so the queue retries it. The agent sees the returned `envelope`; `context` is stored with
   * the reply (`Reply.context`) and so reaches `send`, even on a retried delivery.
   */
  prepare?(envelope: Envelope, meta: { executionId: string; agent: string }): Promise<Prepared>;
};

/** One platform: both halves. Adapters translate; they never decide. */
export type ChannelAdapter = ChannelReceiver & ChannelSender;

/**
 * A platform asked us to wait (a 429 with Retry-After, GitHub's secondary limit). Senders throw it and nothing else
 * for a rate limit; the outbound step waits a short one out and defers the job past a long one.
 */
export class RetryLaterError extends Error {
  readonly code: string = 'retry_later';
  readonly retryAfterMs: number;
  /** `what`: who refused what, e.g. "Slack rate-limited chat.postMessage". */
  constructor(retryAfterMs: number, what: string, options?: ErrorOptions) {
    super(`${what}: retry after ${Math.ceil(retryAfterMs / 1000)} s`, options);
    this.name = 'RetryLaterError';
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * What `ChannelAdapter.prepare` loaded: the envelope the agent answers, and what delivery needs to know about it.
 * `history`, when the platform keeps the conversation itself (a Slack thread also holds messages never sent to the
 * bot), replaces the history Switchboard stored; oldest first, without the message being answered.
 */
export type Prepared = {
  envelope: Envelope;
  context?: Record<string, unknown>;
  history?: HistoryMessage[];
  /** The pull request to review, as its code host describes it: the worker has the core plan what the review reads. */
  pullRequest?: PullRequest;
  /**
   * Votes the platform delivers as no event (👍/👎 reactions on the hub's comments, found by polling), cast in this
   * envelope's conversation: the worker records them through the one vote path, which checks where each was cast.
   */
  votes?: { executionId: string; userId: string; score: 1 | -1 }[];
};
