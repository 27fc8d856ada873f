/**
 * The outbound step as the worker runs it, for tests of one channel's sender: the reply is split with the sender's
 * limits and sent part by part, and what a failed attempt delivered is kept per execution as the execution row keeps
 * it, so calling again is the queue's retry. Waits for Retry-After are recorded in `slept`, not waited.
 */
import { sendParts } from '../../src/pipeline/outbound.ts';
import type { ChannelSender, Recipient } from '../../src/ports.ts';
import type { Delivered, Envelope, Reply } from '../../src/types.ts';

export function outbound(sender: ChannelSender, opts: { maxWaitMs?: number } = {}) {
  const progress = new Map<string, Delivered>();
  const slept: number[] = [];
  async function deliver(to: Recipient, reply: Reply, meta: { executionId: string }) {
    const { executionId } = meta;
    await sendParts(sender, to, reply, {
      executionId,
      delivered: progress.get(executionId),
      progress: async (delivered) => void progress.set(executionId, delivered),
      sleep: async (ms) => void slept.push(ms),
      ...(opts.maxWaitMs !== undefined ? { maxWaitMs: opts.maxWaitMs } : {}),
    });
    progress.delete(executionId); // delivered in full: the execution succeeded
  }
  return {
    reply: (envelope: Envelope, reply: Reply, meta: { executionId: string }) => deliver({ envelope }, reply, meta),
    postTo: (target: string, reply: Reply, meta: { executionId: string }) => deliver({ target }, reply, meta),
    slept,
  };
}
