/** Code review in the core, shared by every channel: the heuristics, how chats list findings, and pull-request planning. */
export { findingLine, findingsText } from './chat.ts';
export { REVIEW_TOKEN_BUDGET, reviewDiff } from './findings.ts';
export type { ReviewReport, ReviewRule, ReviewSummary, RiskLevel } from './findings.ts';
export { deliverReview, planPullRequestReview, REVIEW_LEASE_SECONDS, ReviewInProgressError } from './incremental.ts';
export type { Comparison, PullRequest, ReviewDecision, ReviewHost, ReviewMemory } from './incremental.ts';
export { fingerprint, planReview } from './plan.ts';
export type { ChangedFile, ReviewPlan } from './plan.ts';
