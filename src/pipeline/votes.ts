/**
 * The one place votes are counted. The feedback agent (typed +1/-1, Slack and Telegram buttons, WhatsApp), GitHub
 * reactions and `POST /api/feedback` all come here. A vote names an execution, and the name is not to be trusted (a
 * button payload or a comment marker can be forged), so it counts only where that answer was given: the same channel,
 * tenant and conversation, or the conversation a routing rule delivered it into. An admin may rate any answer.
 */
import type { Store, VoteTarget } from '../../db/index.ts';
import type { Destination } from '../ports.ts';

/** Where a vote was cast and by whom, from what the platform signed, never from the vote's own payload. */
export type Voter = {
  userId: string;
  channel: string;
  tenantId: string;
  /** The conversation the vote was cast in: its id when the pipeline stored it, else its key. */
  conversationId?: string;
  conversationKey?: string;
  /** That conversation as a routing rule's destination target would name it (Envelope.address). */
  address?: string;
  admin: boolean;
};

/** A vote: on `executionId`, or without one on the latest rateable answer in the voter's conversation (a typed "+1"). */
export type Vote = { executionId?: string; score: 1 | -1; voter: Voter };

export type VoteOutcome = { recorded: true; executionId: string; score: 1 | -1; feedbackId: string } | { recorded: false; reason: 'no-execution' | 'not-here' };

type VoteStore = Pick<Store, 'voteTarget' | 'latestRateableExecution' | 'upsertFeedback'>;

/**
 * Why a +1 is withheld (`Reply.withheld`) when the channel found it rates no answer of ours (its prepare sets the
 * envelope's `args.score` to null): a bare +1/-1 in a thread a person started answers that person, not the hub.
 */
export const NOT_A_VOTE = 'a +1/-1 in a thread the hub did not start: conversation, not a vote';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Stores the vote, or nothing when its execution does not exist (`no-execution`) or was answered elsewhere (`not-here`). */
export async function recordVote(store: VoteStore, vote: Vote): Promise<VoteOutcome> {
  const { voter } = vote;
  let executionId = vote.executionId;
  if (executionId === undefined) {
    // The latest answer in the voter's own conversation: here by construction.
    executionId = voter.conversationId ? await store.latestRateableExecution(voter.conversationId) : undefined;
    if (!executionId) return { recorded: false, reason: 'no-execution' };
  } else {
    const target = UUID.test(executionId) ? await store.voteTarget(executionId.toLowerCase()) : undefined;
    if (!target) return { recorded: false, reason: 'no-execution' };
    if (!voter.admin && !answeredTo(target, voter)) return { recorded: false, reason: 'not-here' };
    executionId = target.id;
  }
  const row = await store.upsertFeedback({ executionId, userId: voter.userId, channel: voter.channel, score: vote.score });
  return { recorded: true, executionId, score: vote.score, feedbackId: row.id };
}

/** Whether `voter` sits where the rated answer was given: its own conversation, or where a routing rule posted it. */
function answeredTo(rated: VoteTarget, voter: Voter): boolean {
  const sameConversation =
    rated.channel === voter.channel &&
    rated.tenantId === voter.tenantId &&
    (voter.conversationId !== undefined ? rated.conversationId === voter.conversationId : rated.conversationKey === voter.conversationKey);
  const destination = rated.destination as Destination | null;
  const routedHere =
    destination !== null && voter.address !== undefined && destination.channel === voter.channel && destination.target.trim() === voter.address;
  return sameConversation || routedHere;
}
