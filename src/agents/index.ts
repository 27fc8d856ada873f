/** The agents every channel shares. */
import type { Agent } from '../ports.ts';
import type { IntentName } from '../types.ts';
import { askAgent } from './ask.ts';
import { feedbackAgent } from './feedback.ts';
import { helpAgent } from './help.ts';
import { reviewAgent } from './review.ts';
import { statusAgent } from './status.ts';
import { summarizeAgent } from './summarize.ts';

/** Every agent name, one per intent. */
export const AGENT_NAMES = ['help', 'ask', 'summarize', 'review', 'status', 'feedback'] as const satisfies readonly IntentName[];
export type AgentName = (typeof AGENT_NAMES)[number];

/** The agent registry, in the order of `AGENT_NAMES`. Agents are stateless, so sharing instances is safe. */
export function createAgents(): Agent[] {
  return [helpAgent, askAgent, summarizeAgent, reviewAgent, statusAgent, feedbackAgent];
}
