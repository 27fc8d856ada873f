/** Reading admin API input: JSON bodies and query strings checked against a schema, refused as 400 with every problem named. */
import { z } from 'zod';
import { decodeCursor } from '../../db/index.ts';
import { AppError, BadRequestError } from '../../src/errors.ts';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new BadRequestError('invalid_request', result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  }
  return result.data;
}

export async function jsonBody(req: { text(): Promise<string> }): Promise<unknown> {
  const text = await req.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError(400, 'malformed_json', 'Request body is not valid JSON');
  }
}

/**
 * A query-string schema: an empty parameter (`?status=&limit=`) counts as unset, as an empty variable does in the
 * configuration, so a form that submits every field still gets the defaults.
 */
export function querySchema<T extends z.ZodRawShape>(shape: T) {
  const withoutEmpty = (query: unknown) =>
    query && typeof query === 'object' ? Object.fromEntries(Object.entries(query).filter(([, v]) => !(typeof v === 'string' && v.trim() === ''))) : query;
  return z.preprocess(withoutEmpty, z.object(shape));
}

// A page's `next_cursor`, given back as `?before=` for the page after it.
export const cursor = z
  .string()
  .transform((text, ctx) => decodeCursor(text) ?? (ctx.addIssue({ code: 'custom', message: 'must be a next_cursor from an earlier page' }), z.NEVER));
export const search = z.string().max(200, 'must be at most 200 characters');
export const pageLimit = z.coerce.number().int().min(1).max(500).default(50);
// Who made a change, for the audit trail: the CLI says `cli:<user>`; anything else through the API is `api`.
export const actor = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\w.:@-]+$/, 'letters, digits and . : @ - _')
  .optional();
