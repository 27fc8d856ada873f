/** The access policy (ARCHITECTURE §1 step 2b): who may talk to the agents, with which role, how often. */
export { createAccessPolicy, isRefusal, PAIRING_MAX_PENDING, PAIRING_TTL_SECONDS, QUOTA_WINDOW_SECONDS } from './policy.ts';
export type { AccessDeniedReason, AccessPolicy, Decision, Refusal } from './policy.ts';
export { PAIRING_CODE, pairingCode } from './codes.ts';
export { pairingAnswer, quotaAnswer } from './answers.ts';
export { ACCESS_USAGE, accessCommand, AccessUsageError, type ApiCall } from './command.ts';
export type { AccessRule, AccessStore, NewAccessRule, Pairing, PairingRequest, RuleKind } from './store.ts';
