/** Hooks have no reply destination yet. */
import type { Envelope, Reply } from '../../src/types.ts';

/**
 * Does nothing: the pipeline stores the reply on the execution, where the API and dashboard read it. Delivering
 * hook results to a chat comes with webhook-to-chat routing rules (`/api/routes`), which the pipeline will apply.
 */
export async function replyHook(_envelope: Envelope, _reply: Reply, _meta: { executionId: string }): Promise<void> {}
