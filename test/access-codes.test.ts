/** Pairing codes: the shape operators type back, from the whole alphabet and nothing outside it. */
import { describe, expect, it } from 'vitest';
import { PAIRING_CODE, pairingCode } from '../src/access/codes.ts';

describe('pairing codes', () => {
  it('are four and two characters of the alphabet without look-alikes, and differ', () => {
    const codes = Array.from({ length: 500 }, pairingCode);
    for (const code of codes) expect(code).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{2}$/);
    // 500 draws from 31^6 codes: a repeat would mean the randomness is gone.
    expect(new Set(codes).size).toBe(codes.length);
    // Every one of the 31 characters turns up in 3,000 draws (missing one has a chance of about 1e-40).
    expect(new Set(codes.join('').replaceAll('-', '')).size).toBe(31);
  });

  it('are recognised case-insensitively, and nothing else is', () => {
    expect(PAIRING_CODE.test('4f7k-q2')).toBe(true);
    for (const bad of ['4F7K-Q', '4F7KQ2', '4F7K-Q2X', 'O0I1-L2', ' 4F7K-Q2']) expect(PAIRING_CODE.test(bad), bad).toBe(false);
  });
});
