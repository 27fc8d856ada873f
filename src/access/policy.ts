/**
 * The one access check (ARCHITECTURE §1 step 2b), run on each envelope once its agents are assigned (by classify or
 * routing rules) and before anything is stored. Channels report who wrote (`Envelope.facts`); this decides, the same
 * way for every channel: deny rules, admins, allow lists, the channel's mode (pairing, allowlist, open, workspace,
 * collaborators, anyone), then the role each assigned agent requires. The hourly quota is counted inside the ingest
 * transaction (see `quota`).
 */
import type { ChannelAccess } from '../config.ts';
import type { Envelope, Role } from '../types.ts';
import { externalAnswer, notAllowedAnswer, pairingAnswer, roleAnswer } from './answers.ts';
import { pairingCode } from './codes.ts';
import type { AccessStore } from './store.ts';

/** Why a message was refused: the `reason` label of `switchboard_access_denied_total`. */
export type AccessDeniedReason =
  | 'denied'
  | 'not_allowed'
  | 'pairing'
  | 'pairing_pending'
  | 'pairing_full'
  | 'not_member'
  | 'external'
  | 'unidentified'
  | 'role'
  | 'quota';

/** A refused message: nothing is stored; `answer`, when there is one, is told to the person in place. */
export type Refusal = { refused: AccessDeniedReason; answer?: string };

export type Decision = { role: Role } | Refusal;

export const isRefusal = (x: object): x is Refusal => 'refused' in x;

/** A pairing code is good for an hour; at most this many wait per channel, so strangers cannot fill the table. */
export const PAIRING_TTL_SECONDS = 3600;
export const PAIRING_MAX_PENDING = 100;
export const QUOTA_WINDOW_SECONDS = 3600;

export type AccessPolicy = {
  /** Admits `envelope` with a role, or refuses it. `agents` are the agents it was assigned to. May open a pairing. */
  check(envelope: Envelope, agents: string[]): Promise<Decision>;
  /** The quota the ingest transaction enforces for an admitted envelope, or undefined when none applies. */
  quota(envelope: Envelope): { limit: number; since: Date; windowSeconds: number } | undefined;
};

export type AccessPolicyOptions = {
  /** Per channel whose senders are people; a channel without an entry (web, signed hooks) is a trusted system. */
  channels: Partial<Record<string, ChannelAccess>>;
  quotaPerHour: number;
  store: AccessStore;
  now(): Date;
};

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function createAccessPolicy(opts: AccessPolicyOptions): AccessPolicy {
  async function admit(envelope: Envelope, settings: ChannelAccess): Promise<Decision> {
    const facts = envelope.facts;
    // A channel that should say who wrote but did not: refuse rather than guess.
    if (!facts?.person) return { refused: 'unidentified' };
    const ids = [facts.person, ...facts.places];
    const rules = await opts.store.rulesFor(envelope.channel, ids);
    const named = (kind: 'allow' | 'deny' | 'admin', among: string[]) => rules.some((r) => r.kind === kind && among.some((id) => same(r.subject, id)));
    const envAdmin = settings.admins.some((a) => same(a, facts.person));
    // A deny rule wins over every allow; only an admin named in the environment is above the database.
    if (!envAdmin && named('deny', ids)) return { refused: 'denied' };
    if (envAdmin || named('admin', [facts.person])) return { role: 'admin' };
    const allowed = settings.allow.some((a) => ids.some((id) => same(a, id))) || named('allow', ids);
    if (allowed) return { role: 'member' };

    switch (settings.mode) {
      case 'open':
      case 'anyone':
        return { role: 'member' };
      case 'workspace':
        return facts.external ? { refused: 'external', answer: externalAnswer() } : { role: 'member' };
      case 'collaborators':
        // Automatic reviews run on every installed repository; commands need the repository's people.
        return facts.member || facts.automatic ? { role: 'member' } : { refused: 'not_member' };
      case 'pairing': {
        const subject = facts.groupChat ?? facts.person;
        const opened = await opts.store.openPairing({
          channel: envelope.channel,
          subject,
          scope: facts.groupChat ? 'chat' : 'person',
          userName: envelope.userName,
          code: pairingCode(),
          now: opts.now(),
          ttlSeconds: PAIRING_TTL_SECONDS,
          max: PAIRING_MAX_PENDING,
        });
        if ('code' in opened) return { refused: 'pairing', answer: pairingAnswer(opened.code, PAIRING_TTL_SECONDS) };
        return { refused: 'pending' in opened ? 'pairing_pending' : 'pairing_full' };
      }
      default:
        return { refused: 'not_allowed', answer: notAllowedAnswer(envelope.channel, facts.person) };
    }
  }

  return {
    async check(envelope, agents) {
      const settings = opts.channels[envelope.channel];
      if (!settings) return { role: 'admin' };
      const decision = await admit(envelope, settings);
      if (isRefusal(decision) || decision.role === 'admin') return decision;
      const roles = await opts.store.requiredRoles();
      const adminOnly = agents.find((a) => roles.get(a) === 'admin');
      return adminOnly ? { refused: 'role', answer: roleAnswer(adminOnly) } : decision;
    },
    quota(envelope) {
      if (!opts.quotaPerHour || !opts.channels[envelope.channel]) return undefined;
      return { limit: opts.quotaPerHour, since: new Date(opts.now().getTime() - QUOTA_WINDOW_SECONDS * 1000), windowSeconds: QUOTA_WINDOW_SECONDS };
    },
  };
}
