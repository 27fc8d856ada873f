/** Turns a verified Standard Webhooks delivery into an envelope. Adapters translate; routing decides later. */
import { NormalizeError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';
import type { Envelope } from '../../src/types.ts';

type Payload = Record<string, unknown>;
type Field = { key: string; value: string };

// Bounds on a rendered event: enough for `ask`/`summarize` to work from, small enough for a prompt.
const MAX_LINES = 60;
const MAX_VALUE_CHARS = 200;
const MAX_DEPTH = 6;

/** The first of `keys` holding a non-blank string. */
function pick(payload: Payload, keys: string[]): Field | undefined {
  for (const key of keys) {
    const value = payload[key];
    if (typeof value === 'string' && value.trim() !== '') return { key, value };
  }
  return undefined;
}

/** Appends one `path: value` line per leaf; returns false once the line budget is spent. */
function flatten(value: unknown, path: string, depth: number, out: string[]): boolean {
  if (value !== null && typeof value === 'object' && depth < MAX_DEPTH) {
    const entries: [string, unknown][] = Array.isArray(value)
      ? value.map((child, i) => [`${path}[${i}]`, child])
      : Object.entries(value).map(([key, child]) => [path ? `${path}.${key}` : key, child]);
    if (entries.length === 0 && path) out.push(`${path}: ${Array.isArray(value) ? '[]' : '{}'}`);
    return entries.every(([childPath, child]) => flatten(child, childPath, depth + 1, out));
  }
  if (out.length >= MAX_LINES) return false;
  // Newlines inside a value would read as separate fields.
  const text = typeof value === 'string' ? value.replace(/\s+/g, ' ') : JSON.stringify(value);
  out.push(`${path}: ${text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text}`);
  return true;
}

/**
 * A payload without `text`/`message` is an event, not a chat line: render it as a headline plus one `path: value`
 * line per leaf, so an agent (and a human reading the execution log) sees what happened without JSON punctuation.
 */
export function renderHookEvent(payload: Payload, source: string, event?: Field): string {
  const fields = event ? Object.fromEntries(Object.entries(payload).filter(([key]) => key !== event.key)) : payload;
  const lines: string[] = [];
  const complete = flatten(fields, '', 0, lines);
  const headline = event ? `${event.value} event from ${source}` : `event from ${source}`;
  return [headline, ...lines, ...(complete ? [] : ['… more fields omitted'])].join('\n');
}

/** Parses and normalizes one hook delivery. Call only after `verifyHook` accepted it. */
export function normalizeHook(req: RawRequest, source: string, now: () => Date = () => new Date()): Envelope[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(req.body));
  } catch {
    throw new NormalizeError('malformed_json', 'hook body must be valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new NormalizeError('malformed_json', 'hook body must be a JSON object at the top level, e.g. {"type": "deploy.finished", …}');
  }
  const deliveryId = req.headers.get('webhook-id');
  if (!deliveryId) throw new NormalizeError('missing_delivery_id', 'webhook-id header is required: it is the deduplication key');

  const payload = parsed as Payload;
  const fallback = `hook:${source}`;
  const event = pick(payload, ['type', 'event']);
  const conversation = pick(payload, ['conversation_id']);
  return [
    {
      channel: 'hooks',
      // Every source shares the `hooks` channel, and two systems may well pick the same message ids.
      deliveryId: `${source}:${deliveryId}`,
      tenantId: fallback,
      conversationKey: conversation ? `${fallback}:${conversation.value}` : fallback,
      userId: pick(payload, ['user_id', 'user', 'sender'])?.value ?? fallback,
      text: pick(payload, ['text', 'message'])?.value ?? renderHookEvent(payload, source, event),
      threadRef: event ? { source, event: event.value } : { source },
      // Webhook-to-chat routing rules match on this.
      event: event ? { source, type: event.value } : { source },
      receivedAt: now().toISOString(),
      raw: payload,
      // An event is a question for `ask` unless it names its agent; its text is not read for commands.
      agent: pick(payload, ['agent'])?.value ?? 'ask',
    },
  ];
}
