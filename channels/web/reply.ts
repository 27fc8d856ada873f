/** Web replies need no delivery. */
import type { Envelope, Reply } from '../../src/types.ts';

/**
 * Does nothing: the pipeline stores the reply on the execution, and the client gets it from `?wait=1`, from
 * `GET /api/executions/:id` or from the conversation. There is no connection to push to.
 */
export async function replyWeb(_envelope: Envelope, _reply: Reply, _meta: { executionId: string }): Promise<void> {}
