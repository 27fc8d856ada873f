/** What the fast normalize tests share: a RawRequest from a RequestInit, and the refusal or the one envelope a call gives. */
import { expect } from 'vitest';
import { NormalizeError, type RawRequest } from '../../src/ports.ts';
import type { Envelope } from '../../src/types.ts';

export const NOW = new Date('2026-02-01T08:00:00Z');

export function raw(init: RequestInit): RawRequest {
  return { body: new TextEncoder().encode(init.body as string), headers: new Headers(init.headers), url: 'http://localhost/hook', params: {} };
}

/** The NormalizeError `run` throws or rejects with (anything else fails the test). */
export async function refusal(run: () => unknown): Promise<NormalizeError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(NormalizeError);
    return err as NormalizeError;
  }
  throw new Error('expected a NormalizeError');
}

/** The one envelope a request became (fails the test when it was ignored or became several). */
export function one(result: Envelope[] | { ignore: string }): Envelope {
  expect(Array.isArray(result), JSON.stringify(result)).toBe(true);
  expect(result).toHaveLength(1);
  return (result as Envelope[])[0]!;
}
