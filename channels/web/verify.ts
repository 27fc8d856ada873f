/** The web channel has no signature of its own. */
import type { RawRequest } from '../../src/ports.ts';

/**
 * Accepts every request. `/api/messages` sits behind the `/api/*` admin bearer token, which the handler checks
 * (in constant time) before any adapter runs; re-checking here would make a channel read configuration, and there
 * is no platform signature to check besides.
 */
export function verifyWeb(_req: RawRequest): void {}
