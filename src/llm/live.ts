/**
 * Live replies: text streaming in from the chain goes to whoever can watch it arrive — the channel's
 * editable message (throttled, to respect platform rate limits) and in-process subscribers such as the
 * SSE endpoint of the web playground. The final text is still stored and delivered once, by the worker.
 */
import type { LlmDelta, Logger } from '../ports.ts';
import type { Envelope } from '../types.ts';

export type LiveEvent = { type: 'delta'; delta: string; text: string } | { type: 'end' };
export type LiveListener = (event: LiveEvent) => void;

/** One execution's stream, opened by the worker around its agent run. */
export type LiveStream = {
  onDelta(delta: LlmDelta): void;
  /** Stops editing (waiting for an edit in flight, dropping any pending one) and tells subscribers it ended. */
  close(): Promise<void>;
};

export type LiveReplies = {
  /** `envelope` is where the reply goes; leave it out for routed replies, which are not edited in place. */
  open(executionId: string, envelope?: Envelope): LiveStream;
  /** Follows an execution; a late subscriber first gets the text so far. Returns the unsubscribe function. */
  subscribe(executionId: string, listener: LiveListener): () => void;
};

/** Makes the function that edits the channel message showing `executionId`, or undefined when the channel cannot edit. */
export type EditorFor = (envelope: Envelope, executionId: string) => ((text: string) => Promise<void>) | undefined;

export type LiveOptions = {
  logger: Logger;
  editorFor?: EditorFor;
  /** At most one edit per interval per message: about 1/s suits Slack chat.update and Telegram editMessageText. */
  intervalMs?: number;
  now?: () => number;
};

type Entry = { text: string; listeners: Set<LiveListener>; open: boolean };

export function createLiveReplies(opts: LiveOptions): LiveReplies {
  const { logger } = opts;
  const intervalMs = opts.intervalMs ?? 1000;
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const entry = (id: string) => {
    let e = entries.get(id);
    if (!e) entries.set(id, (e = { text: '', listeners: new Set(), open: false }));
    return e;
  };
  const notify = (e: Entry, event: LiveEvent) => {
    for (const listener of e.listeners) {
      try {
        listener(event);
      } catch (err) {
        logger.debug({ err }, 'a live reply listener failed');
      }
    }
  };

  return {
    open(executionId, envelope) {
      const e = entry(executionId);
      e.open = true;
      const edit = envelope && opts.editorFor?.(envelope, executionId);
      const throttled = edit
        ? throttle(edit, intervalMs, now, (err) => logger.warn({ err, executionId }, 'editing the streamed reply failed; the final reply is still delivered'))
        : undefined;
      return {
        onDelta(d) {
          e.text = d.text;
          notify(e, { type: 'delta', delta: d.delta, text: d.text });
          throttled?.push(d.text);
        },
        async close() {
          await throttled?.stop();
          e.open = false;
          notify(e, { type: 'end' });
          entries.delete(executionId);
        },
      };
    },
    subscribe(executionId, listener) {
      const e = entry(executionId);
      e.listeners.add(listener);
      if (e.text) listener({ type: 'delta', delta: e.text, text: e.text });
      return () => {
        e.listeners.delete(listener);
        if (!e.open && e.listeners.size === 0 && entries.get(executionId) === e) entries.delete(executionId);
      };
    },
  };
}

/**
 * Sends the latest value at most once per `intervalMs`, never two at once; the first goes at once.
 * After a failed send it stops: a message we cannot edit will not start working mid-answer.
 */
export function throttle(send: (text: string) => Promise<void>, intervalMs: number, now: () => number, onError: (err: unknown) => void) {
  let pending: string | undefined;
  let inFlight: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastSent = Number.NEGATIVE_INFINITY;
  let stopped = false;

  const schedule = () => {
    if (stopped || timer || inFlight || pending === undefined) return;
    timer = setTimeout(flush, Math.max(0, lastSent + intervalMs - now()));
  };
  function flush() {
    timer = undefined;
    if (stopped || pending === undefined) return;
    const text = pending;
    pending = undefined;
    lastSent = now();
    inFlight = send(text)
      .catch((err) => {
        stopped = true;
        onError(err);
      })
      .finally(() => {
        inFlight = undefined;
        schedule();
      });
  }
  return {
    push(text: string) {
      pending = text;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      await inFlight;
    },
  };
}
