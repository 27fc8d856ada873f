/** API shapes: snake_case JSON, as the routes in ARCHITECTURE §5 take them. */
import type { ExecutionRow } from '../db/index.ts';

export function presentExecution(e: ExecutionRow) {
  return {
    id: e.id,
    status: e.status,
    channel: e.channel,
    agent: e.agent,
    intent: e.intent,
    args: e.args,
    tenant_id: e.tenantId,
    user_id: e.userId,
    conversation_id: e.conversationId,
    message_id: e.messageId,
    replay_of: e.replayOf,
    attempts: e.attempts,
    provider: e.provider,
    model: e.model,
    input_tokens: e.inputTokens,
    output_tokens: e.outputTokens,
    cost_usd: e.costUsd === null ? null : Number(e.costUsd),
    latency_ms: e.latencyMs,
    error: e.error,
    prompt_hash: e.promptHash,
    reply: e.result,
    delivered: presentDelivered(e.delivered),
    received_at: e.receivedAt,
    created_at: e.createdAt,
    started_at: e.startedAt,
    finished_at: e.finishedAt,
    replied_at: e.repliedAt,
  };
}

/**
 * How far delivery got: parts sent of the reply's total (`total` is null on rows stored before it was kept). Null
 * until a part went out, and for a reply nothing sends (the web channel's, read from the API; a withheld one).
 */
function presentDelivered(delivered: ExecutionRow['delivered']) {
  if (!delivered || (delivered.parts === 0 && delivered.total === undefined)) return null;
  return { parts: delivered.parts, total: delivered.total ?? null };
}
