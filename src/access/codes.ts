import { randomInt } from 'node:crypto';

// No 0/O, 1/I/L: a code read aloud or copied from a phone screen is typed right the first time.
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/** A one-time pairing code, e.g. `4F7K-Q2`: 31^6 ≈ 887 million, crypto-random. */
export function pairingCode(): string {
  const pick = () => ALPHABET[randomInt(ALPHABET.length)];
  return `${pick()}${pick()}${pick()}${pick()}-${pick()}${pick()}`;
}

/** What a pairing code looks like (case-insensitive), for checking operator input. */
export const PAIRING_CODE = /^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{2}$/i;
