/**
 * The admin bearer token. ADMIN_TOKEN from the environment wins; otherwise a token is generated once per
 * database, printed once, and only its sha256 is stored (settings `admin_token_sha256`), so a copy of the
 * database or a backup does not hand out API access. `switchboard admin-token rotate` replaces the hash;
 * every process reads the current hash through a short cache, so a rotation reaches them all.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a process trusts the stored hash it read; a rotation takes effect everywhere within this. */
export const ADMIN_TOKEN_CACHE_MS = 5_000;
/** A token that does not match re-reads the hash (it may be a fresh rotation), at most this often. */
const MISMATCH_REREAD_MS = 1_000;

export function newAdminToken(): string {
  return `sb_${randomBytes(24).toString('hex')}`;
}

/** sha256 of the token, hex: what the settings table keeps. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A short, non-secret name for a stored token: the first 6 hex digits of its hash. */
export function tokenFingerprint(hash: string): string {
  return hash.slice(0, 6);
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export type AdminTokenCheck = ((presented: string) => Promise<boolean>) & {
  /**
   * The hash of the token an operator signs in with now (ADMIN_TOKEN's, else the stored one), read through the same
   * cache: console sessions are signed with a key derived from it, so rotating the token signs everyone out.
   */
  currentHash(): Promise<string>;
};

export type AdminTokenCheckOptions = {
  /** ADMIN_TOKEN from the environment: when set, it is the only operator token. */
  fixed?: string;
  /** A token valid in this process only (never stored or printed): how the CLI calls its in-process API. */
  processToken: string;
  /** The stored hash, read from the database (undefined when none is stored). */
  readHash(): Promise<string | undefined>;
  /** The hash known at start, so the first request needs no query. */
  initialHash?: string;
  now?(): number;
};

/** Compares the presented token's hash with the accepted ones in constant time. */
export function createAdminTokenCheck(opts: AdminTokenCheckOptions): AdminTokenCheck {
  const now = opts.now ?? Date.now;
  const processHash = hashToken(opts.processToken);
  const fixedHash = opts.fixed ? hashToken(opts.fixed) : undefined;
  let stored = opts.initialHash;
  let readAt = opts.initialHash ? now() : 0;

  async function refresh(): Promise<void> {
    try {
      stored = await opts.readHash();
      readAt = now();
    } catch (err) {
      if (stored === undefined) throw err; // nothing to fall back on: let the request fail as an error
    }
  }

  async function checkAdminToken(presented: string) {
    const hash = hashToken(presented);
    if (sameHash(hash, processHash)) return true;
    if (fixedHash) return sameHash(hash, fixedHash);
    if (now() - readAt > ADMIN_TOKEN_CACHE_MS) await refresh();
    if (stored && sameHash(hash, stored)) return true;
    if (now() - readAt < MISMATCH_REREAD_MS) return false;
    await refresh();
    return stored !== undefined && sameHash(hash, stored);
  }

  async function currentHash() {
    if (fixedHash) return fixedHash;
    if (now() - readAt > ADMIN_TOKEN_CACHE_MS) await refresh();
    // No token stored (never the case once the server has started): only this process's own token signs.
    return stored ?? processHash;
  }

  return Object.assign(checkAdminToken, { currentHash });
}
