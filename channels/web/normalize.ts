/** `POST /api/messages` body → envelope. */
import { z } from 'zod';
import { NormalizeError } from '../../src/ports.ts';
import type { RawRequest } from '../../src/ports.ts';
import type { Envelope } from '../../src/types.ts';

const MAX_TEXT_BYTES = 32 * 1024;
const MAX_ID_CHARS = 256;

const utf8Length = (text: string): number => new TextEncoder().encode(text).length;

export const webMessageSchema = z.object(
  {
    text: z
      .string({ error: 'is required and must be a string' })
      .refine((text) => text.trim() !== '', 'must not be empty')
      .refine((text) => utf8Length(text) <= MAX_TEXT_BYTES, `must be at most ${MAX_TEXT_BYTES} bytes (32 KiB) of UTF-8`),
    user_id: z
      .string({ error: 'is required and must be a string' })
      .min(1, 'must not be empty')
      .max(MAX_ID_CHARS, `must be at most ${MAX_ID_CHARS} characters`),
    conversation_id: z
      .string({ error: 'must be a string' })
      .max(MAX_ID_CHARS, `must be at most ${MAX_ID_CHARS} characters`)
      .regex(/^[A-Za-z0-9_:.-]+$/, 'must be non-empty and use only letters, digits, "-", "_", ":" and "."')
      // Clients often send null for "none"; it means the same as leaving the field out.
      .nullish(),
  },
  { error: 'must be a JSON object' },
);

export type WebMessage = z.infer<typeof webMessageSchema>;

/** A client retry with the same key is one delivery; without a key every request is new. */
function deliveryIdOf(req: RawRequest): string {
  const key = req.headers.get('idempotency-key');
  if (key === null) return crypto.randomUUID();
  if (key === '' || key.length > MAX_ID_CHARS) {
    throw new NormalizeError('invalid_request', `Idempotency-Key header must be 1–${MAX_ID_CHARS} characters`);
  }
  return key;
}

export function normalizeWeb(req: RawRequest, now: () => Date = () => new Date()): Envelope[] {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(req.body));
  } catch {
    throw new NormalizeError('malformed_json', 'body must be JSON like {"text": "…", "user_id": "…", "conversation_id": "…"}');
  }
  const parsed = webMessageSchema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
    throw new NormalizeError('invalid_request', `invalid message: ${problems.join('; ')}`);
  }
  const message = parsed.data;
  const conversationKey = message.conversation_id ?? `web:${message.user_id}`;
  return [
    {
      channel: 'web',
      deliveryId: deliveryIdOf(req),
      tenantId: 'web',
      // Without a conversation_id a user's messages form one running conversation.
      conversationKey,
      userId: message.user_id,
      text: message.text,
      receivedAt: now().toISOString(),
      raw: body,
    },
  ];
}
