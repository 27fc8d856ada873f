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

/** Delivers replies: back to where an envelope came from, or to a routing rule's destination. */
export type ReplySink = {
  reply(envelope: Envelope, reply: Reply, meta: { executionId: string }): Promise<void>;
  deliver(destination: Destination, reply: Reply, meta: { executionId: string }): Promise<void>;
};

/** One platform: verify, normalize, reply. Adapters translate; they never decide. */
export type ChannelAdapter = Pick<ReplySink, 'reply'> & {
  readonly channel: Envelope['channel'];
  /** The env variables that enable this channel; named in the 404 a disabled channel answers. */
  readonly requiredEnv: string[];
  readonly enabled: boolean;
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
   * Edits a reply in place while it streams (Slack chat.update, Telegram editMessageText). `ref` is the
   * envelope's `replyRef` plus `executionId`. The worker calls it throttled (about once a second) with the
   * text so far; the first call may post the message, later calls edit it. `reply` then delivers the final
   * text once, and should edit that same message. Channels that cannot edit leave it out and do not stream.
   */
  update?(ref: Record<string, unknown>, reply: Reply): Promise<void>;
  /** Posts to an address on this platform: makes the channel a destination for routing rules. */
  postTo?(target: string, reply: Reply, meta: { executionId: string }): Promise<void>;
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
  /**
   * Checks a routing rule's target before the rule is stored, so a mistyped address is refused when the operator
   * adds it instead of failing (to dead) at delivery. Returns undefined when `postTo` can deliver to `target`, else
   * a message naming the expected format (e.g. "use a chat id like -1001234567890 or @channelname").
   */
  validateTarget?(target: string): string | undefined;
  /**
   * Loads from the platform what the agent needs before it runs (a Slack thread's history, the pull request to
   * review) and shows there that work started. The worker calls it once per answer, before the agent; a throw
   * fails the attempt so the queue retries it. The agent sees the returned `envelope`; `context` is stored with
   * the reply (`Reply.context`) and so reaches `reply`, even on a retried delivery.
   */
  prepare?(envelope: Envelope, meta: { executionId: string; agent: string }): Promise<Prepared>;
};

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
