/**
 * The sender contract: every channel's sender, behind the outbound step as the worker runs it (test/support/outbound.ts),
 * turns the platform's 429 into the one RetryLaterError, so a short wait is waited out and a long one goes to the
 * queue, whose retry sends only what is left. Run against the platform's fake API through its real SDK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryLaterError } from '../../src/ports.ts';
import type { Envelope } from '../../src/types.ts';
import type { outbound } from './outbound.ts';

export type SenderContract = {
  name: string;
  /** Starts the platform's fake; `sender` is the channel's sender behind the outbound step. */
  start(): Promise<{ sender: ReturnType<typeof outbound>; close(): Promise<void> }>;
  /** Where conversation `n` answers, and the texts delivered there. */
  envelope(n: number): Envelope;
  sent(n: number): string[];
  /** The platform answers the next reply after `after` with 429, asking to wait `seconds`. */
  rateLimit(seconds: number, after?: number): void;
  /** Words in a paragraph that nearly fills one message. */
  wordsPerMessage: number;
};

const words = (text: string) => text.split(/\s+/).filter(Boolean);

export function senderContract(channel: SenderContract) {
  describe(`${channel.name} sender contract`, () => {
    let started: Awaited<ReturnType<SenderContract['start']>>;
    beforeAll(async () => {
      started = await channel.start();
    });
    afterAll(async () => started?.close());

    it('waits out a short Retry-After, then sends once', async () => {
      const out = started.sender;
      out.slept.length = 0;
      channel.rateLimit(3);
      await out.reply(channel.envelope(1), { text: 'hello' }, { executionId: 'sender-1' });
      expect(out.slept).toEqual([3000]);
      expect(channel.sent(1)).toEqual(['hello']);
    });

    it('hands a long Retry-After to the queue instead of waiting, then resumes after the parts already sent', async () => {
      const out = started.sender;
      out.slept.length = 0;
      const long = Array.from({ length: 3 }, (_, i) => `Part ${i} ${'word '.repeat(channel.wordsPerMessage).trim()}`).join('\n\n');
      channel.rateLimit(120, 1);
      const error = await out.reply(channel.envelope(2), { text: long }, { executionId: 'sender-2' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryLaterError);
      expect((error as RetryLaterError).retryAfterMs).toBe(120_000);
      expect(out.slept).toEqual([]);
      expect(channel.sent(2)).toHaveLength(1);
      await out.reply(channel.envelope(2), { text: long }, { executionId: 'sender-2' }); // the queue's retry
      const sent = channel.sent(2);
      expect(sent.map((t) => t.slice(0, 6))).toEqual(['Part 0', 'Part 1', 'Part 2']);
      expect(words(sent.join(' '))).toEqual(words(long)); // nothing sent twice, nothing lost
    });
  });
}
