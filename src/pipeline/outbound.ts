/**
 * The outbound step: a reply becomes the sender's parts, sent in order. What was delivered is kept on the execution,
 * so an attempt in any process continues after the last part that went out. A platform's "retry later" is handled
 * here once: waited out when short, otherwise the job is deferred for as long as the platform asked.
 */
import { RetryLaterError, type ChannelSender, type Destination, type OutboundPart, type PartMeta, type Recipient } from '../ports.ts';
import { splitMessage } from '../split.ts';
import type { Delivered, Envelope, Reply } from '../types.ts';

/** How often a platform rate limit may push one execution back before its attempt counts after all. */
export const MAX_DEFERRALS = 20;
/** The longest a single deferral waits, whatever the platform asks. */
const MAX_DEFER_SECONDS = 3600;
/** What one reply may spend waiting out Retry-After in place, in all; a longer wait defers the job instead of holding a worker. */
export const MAX_WAIT_MS = 10_000;

/** The reply as the sender's messages: composed its way, split by its measure, pieces grouped as it sends them. */
export function partsOf(sender: ChannelSender, reply: Reply, to: Recipient): OutboundPart[] {
  const text = sender.compose?.(reply, to) ?? reply.text;
  const limits = sender.limits;
  if (!limits) return [{ text, pieces: [text], index: 0, count: 1 }];
  const pieces = splitMessage(text, { limit: limits.maxLength, fences: limits.fences, fitting: limits.fitting });
  const size = limits.piecesPerPart ?? 1;
  const count = Math.ceil(pieces.length / size);
  return Array.from({ length: count }, (_, index) => {
    const group = pieces.slice(index * size, (index + 1) * size);
    return { text: group.join('\n\n'), pieces: group, index, count };
  });
}

export type SendOptions = {
  executionId: string;
  /** What earlier attempts delivered (stored on the execution); nothing yet when absent. */
  delivered?: Delivered;
  /**
   * Stores progress once a part went out and another follows, before that one is sent. The last part's progress
   * is the caller's to store with its success write, so a one-part reply costs no write of its own.
   */
  progress(delivered: Delivered): Promise<void>;
  /**
   * Runs once before the first part goes out: the worker stores the answer there, so no answer is delivered before
   * it is stored, and a channel that delivers nothing costs no write of its own (the answer rides on the success).
   */
  beforeSend?(): Promise<void>;
  /** Overrides MAX_WAIT_MS (tests). */
  maxWaitMs?: number;
  sleep?(ms: number): Promise<void>;
};

/**
 * Sends the parts an earlier attempt has not, in order, and returns how far delivery got (all of it). A
 * RetryLaterError is waited out while the reply's waits stay within `maxWaitMs`; past that it is thrown, with the
 * parts before it recorded, for the worker to defer the job (see `deferral`).
 */
export async function sendParts(sender: ChannelSender, to: Recipient, reply: Reply, opts: SendOptions): Promise<Delivered> {
  const start = opts.delivered ?? { parts: 0 };
  if (reply.withheld) return start; // decided in the core (see Reply.withheld): no channel posts it
  const deliver = 'envelope' in to ? sender.send?.bind(sender, to.envelope) : sender.postTo?.bind(sender, to.target);
  if (!deliver) return start; // the channel delivers nothing: the reply is read from the execution
  const parts = partsOf(sender, reply, to);
  const maxWait = opts.maxWaitMs ?? MAX_WAIT_MS;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let delivered = start;
  let waited = 0;
  if (start.parts < parts.length) await opts.beforeSend?.();
  for (let i = start.parts; i < parts.length; i++) {
    if (i > start.parts) await opts.progress(delivered);
    const meta: PartMeta = { executionId: opts.executionId, reply, ...(delivered.anchor !== undefined ? { anchor: delivered.anchor } : {}) };
    let anchor: string | void;
    for (;;) {
      try {
        anchor = await deliver(parts[i]!, meta);
        break;
      } catch (err) {
        if (!(err instanceof RetryLaterError) || waited + err.retryAfterMs > maxWait) throw err;
        waited += err.retryAfterMs;
        await sleep(err.retryAfterMs);
      }
    }
    delivered = { parts: i + 1, total: parts.length, ...(delivered.anchor !== undefined ? { anchor: delivered.anchor } : anchor ? { anchor } : {}) };
  }
  return delivered;
}

/**
 * Seconds to defer a job for, when `err` is a platform's "retry later" and the execution has deferrals left;
 * undefined when the attempt failed for another reason (the queue's backoff applies) or was deferred enough.
 */
export function deferral(err: unknown, deferrals: number): number | undefined {
  if (!(err instanceof RetryLaterError) || deferrals >= MAX_DEFERRALS) return undefined;
  return Math.min(Math.max(Math.ceil(err.retryAfterMs / 1000), 0), MAX_DEFER_SECONDS);
}

/** A channel as the outbound step needs it: its sender, and whether it is enabled (a disabled one cannot be a destination). */
export type OutboundChannel = ChannelSender & { readonly enabled: boolean; readonly requiredEnv: string[] };

/** One execution's reply on its way: back to its envelope's origin, or to its routing rule's destination. */
export type Outgoing = {
  executionId: string;
  envelope: Envelope;
  destination?: Destination | null;
  delivered?: Delivered | null;
  /** See SendOptions.beforeSend. */
  beforeSend?(): Promise<void>;
};

export type Outbound = (outgoing: Outgoing, reply: Reply) => Promise<Delivered>;

/** The outbound step bound to the registry and the execution store. */
export function createOutbound(deps: {
  channel(name: string): OutboundChannel | undefined;
  /** Stores progress between parts (see SendOptions.progress). */
  recordDelivered(executionId: string, delivered: Delivered): Promise<void>;
  maxWaitMs?: number;
  sleep?(ms: number): Promise<void>;
}): Outbound {
  return async function deliver(outgoing, reply) {
    const { executionId, envelope, destination } = outgoing;
    const name = destination?.channel ?? envelope.channel;
    const sender = deps.channel(name);
    if (!sender) throw new Error(`no adapter for channel "${name}"; cannot deliver the reply to execution ${executionId}`);
    if (destination) {
      if (!sender.postTo) throw new Error(`channel "${name}" cannot be a routing destination; cannot deliver execution ${executionId}`);
      if (!sender.enabled) throw new Error(`channel "${name}" is disabled: set ${sender.requiredEnv.join(', ')} to deliver execution ${executionId}`);
    }
    return sendParts(sender, destination ? { target: destination.target } : { envelope }, reply, {
      executionId,
      ...(outgoing.delivered ? { delivered: outgoing.delivered } : {}),
      ...(outgoing.beforeSend ? { beforeSend: outgoing.beforeSend } : {}),
      progress: (delivered) => deps.recordDelivered(executionId, delivered),
      ...(deps.maxWaitMs !== undefined ? { maxWaitMs: deps.maxWaitMs } : {}),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    });
  };
}
