/** The access policy's storage port; db/access.ts implements it. */
export type RuleKind = 'allow' | 'deny' | 'admin';

/** A stored rule: `allow` a person or place, `deny` one (wins over every allow), or make a person `admin`. */
export type AccessRule = {
  id: string;
  channel: string;
  kind: RuleKind;
  subject: string;
  note: string | null;
  createdBy: string;
  createdAt: Date;
};

export type NewAccessRule = { channel: string; kind: RuleKind; subject: string; note?: string; createdBy: string };

/** A person (or a whole group chat) waiting for an admin to approve their one-time code. */
export type Pairing = {
  code: string;
  channel: string;
  subject: string;
  scope: 'person' | 'chat';
  userName: string | null;
  createdAt: Date;
  expiresAt: Date;
};

export type PairingRequest = {
  channel: string;
  subject: string;
  scope: 'person' | 'chat';
  userName?: string;
  code: string;
  now: Date;
  ttlSeconds: number;
  /** Pending pairings allowed per channel. */
  max: number;
};

export type AccessStore = {
  /** The stored rules on `channel` naming any of `subjects` (compared without case). */
  rulesFor(channel: string, subjects: string[]): Promise<AccessRule[]>;
  /**
   * Opens a pairing with `code` for `subject`: `pending` when one is already waiting (its code is not sent again),
   * `full` when `max` pairings are waiting on the channel. Expired pairings are forgotten first.
   */
  openPairing(request: PairingRequest): Promise<{ code: string } | { pending: true } | { full: true }>;
  /** The role each agent requires, by agent name. */
  requiredRoles(): Promise<Map<string, 'admin' | 'member'>>;
};
